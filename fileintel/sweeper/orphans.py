"""Orphaned work: messages and leases held by embedded processes that are known to be gone.

In the embedded mode a message that left the outbox lives only in the memory of the worker
process that took it, and a lease is held only by a worker process of the one runtime that
holds the database's embedded lock (``runtime``). So:

- when a runtime has just taken the lock, no live process holds any message or lease: every
  dispatched document that is still pending and whose dispatch row is no longer in the
  outbox, every queued run whose start left the outbox, and every document in processing
  is orphaned, and is recovered now instead of after the dispatch timeout or the lease;
- when one worker process dies under a live runtime, the messages it held are lost but its
  leases cannot be told from the others': the messages are re-dispatched now, its leases
  run out as on PostgreSQL.

Re-dispatching a message a live process still holds costs one refused claim, nothing more:
each re-dispatch is the next attempt, which fences the older message off. The deciders are
the sweeper's own (``lost_dispatches``, ``expired_leases``, ``runs``), with their guards.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from fileintel.db import db_now, write_tx
from fileintel.messaging import PROCESS_DOCUMENT_ACTOR, START_RUN_ACTOR
from fileintel.models.states import RunStatus
from fileintel.models.tables import OUTBOX_DISPATCH, outbox_t
from fileintel.sweeper.decisions import Decision
from fileintel.sweeper.expired_leases import expired_leases, recover_expired_lease
from fileintel.sweeper.lost_dispatches import recover_unclaimed, unclaimed_dispatches
from fileintel.sweeper.runs import recover_run, runs_needing_attention

log = logging.getLogger("fileintel.sweeper")

_BATCH = 1000


@dataclass
class OrphanResult:
    """What one recovery did, per decision."""

    decisions: Counter[str] = field(default_factory=Counter)

    @property
    def acted(self) -> int:
        """How many documents and runs were recovered."""
        return sum(self.decisions.values())


@dataclass(frozen=True)
class HeldInOutbox:
    """Messages still waiting in the outbox: not orphaned, a worker will take them."""

    documents: frozenset[tuple[str, int, int]]
    starts: frozenset[str]


def held_in_outbox(conn: Connection) -> HeldInOutbox:
    """The (run, document, attempt) and run starts of every unpublished dispatch row."""
    o = outbox_t.c
    documents: set[tuple[str, int, int]] = set()
    starts: set[str] = set()
    rows = conn.execute(
        select(o.topic, o.payload).where(o.published_at.is_(None), o.kind == OUTBOX_DISPATCH)
    )
    for topic, payload in rows:
        args = list(payload.get("args") or [])
        if topic == PROCESS_DOCUMENT_ACTOR and len(args) == 3:
            documents.add((str(args[0]), int(args[1]), int(args[2])))
        elif topic == START_RUN_ACTOR and args:
            starts.add(str(args[0]))
    return HeldInOutbox(frozenset(documents), frozenset(starts))


def recover_orphans(engine: Engine, max_attempts: int, *, leases: bool) -> OrphanResult:
    """Re-dispatch what processes that are gone held: messages always, leases with ``leases``
    (only when no worker process of this database is alive). One transaction."""
    result = OrphanResult()
    with write_tx(engine) as conn:
        now = conn.execute(select(db_now())).scalar_one()
        held = held_in_outbox(conn)
        after = 0
        while batch := unclaimed_dispatches(conn, now, after, _BATCH):
            after = batch[-1].id
            for doc in batch:
                if (doc.run_id, doc.id, doc.attempt) not in held.documents:
                    _count(result, recover_unclaimed(conn, doc, now))
        for run in runs_needing_attention(conn, now, now):
            if run.status == RunStatus.QUEUED.value and run.id in held.starts:
                continue
            _count(result, recover_run(conn, run, now, now))
        after = 0
        while leases and (batch := expired_leases(conn, None, after, _BATCH)):
            after = batch[-1].id
            for doc in batch:
                decision = recover_expired_lease(conn, doc, now, max_attempts, holder_gone=True)
                _count(result, decision)
    if result.acted:
        log.info("recovered work held by processes that are gone: %s", dict(result.decisions))
    return result


def _count(result: OrphanResult, decision: Decision | None) -> None:
    if decision is not None:
        result.decisions[decision.value] += 1
