"""``LeaseKeeper``: one thread per worker process renews every document the process holds.

The leases are read back from the database; renewals are driven by ``renew_all`` where the
test needs a pass at a known moment, and waited for where the thread's own timing matters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from fileintel.db import write_tx
from fileintel.store.document_work import finish_document
from fileintel.workers.leases import LeaseKeeper
from tests.helpers import wait_for
from tests.sweeper.support import backdate_lease, claim, document, done_result, started, sweeper_for

LEASE = 60.0


@pytest.fixture
def keeper(engine: Engine) -> Iterator[LeaseKeeper]:
    """A keeper whose thread would wait an hour: passes come from ``renew_all``."""
    kept = LeaseKeeper(engine, LEASE, interval=3600.0)
    yield kept
    kept.close()


def keeper_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "lease-keeper")


def test_every_held_document_is_renewed_by_one_thread(engine: Engine, keeper: LeaseKeeper) -> None:
    work = started(engine, "two-held", 2)
    first, second = (claim(engine, work, doc) for doc in work.doc_ids)
    backdate_lease(engine, work.doc_ids, -5)  # both leases end in 5 s
    threads_before = keeper_threads()
    with keeper.holding(first), keeper.holding(second):
        assert keeper_threads() == threads_before + 1
        before = [document(engine, doc).lease_expires_at for doc in work.doc_ids]

        assert keeper.renew_all() == 2

        after = [document(engine, doc).lease_expires_at for doc in work.doc_ids]
    gained = [(new - old).total_seconds() for old, new in zip(before, after, strict=True)]
    assert all(g > 50 for g in gained), gained


def test_a_document_no_longer_held_is_not_renewed(engine: Engine, keeper: LeaseKeeper) -> None:
    work = started(engine, "released", 1)
    [doc] = work.doc_ids
    taken = claim(engine, work, doc)
    with keeper.holding(taken) as held, write_tx(engine) as conn:
        finish_document(conn, taken, done_result())
    assert keeper.renew_all() == 0
    assert not held.lost, "finishing is not losing the lease"
    assert document(engine, doc).lease_expires_at is None


def test_a_claim_taken_away_is_reported_lost_and_dropped(
    engine: Engine, db_url: str, keeper: LeaseKeeper
) -> None:
    work = started(engine, "taken-away", 1)
    [doc] = work.doc_ids
    taken = claim(engine, work, doc)
    with keeper.holding(taken) as held:
        backdate_lease(engine, [doc], 30)
        assert dict(sweeper_for(engine, db_url).run_once().decisions) == {"redispatch_expired": 1}

        assert keeper.renew_all() == 0
        assert held.lost
        assert keeper.renew_all() == 0, "a lost lease is not tried again"
        row = document(engine, doc)
    assert (row.state, row.attempt, row.lease_expires_at) == ("pending", 2, None)


def test_the_thread_renews_on_its_own_every_interval(engine: Engine) -> None:
    work = started(engine, "ticking", 1)
    [doc] = work.doc_ids
    taken = claim(engine, work, doc)
    backdate_lease(engine, [doc], -5)
    first = document(engine, doc).lease_expires_at
    threads_before = keeper_threads()
    keeper = LeaseKeeper(engine, LEASE, interval=0.1)
    try:
        with keeper.holding(taken) as held:
            wait_for(
                lambda: document(engine, doc).lease_expires_at > first,
                timeout=10,
                what="the keeper's thread to renew the lease",
            )
        assert not held.lost
    finally:
        keeper.close()
    assert keeper_threads() == threads_before, "close() stops the thread"
