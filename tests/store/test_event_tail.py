"""Following the outbox by position: in id order, never past an id that may still commit."""

from __future__ import annotations

from sqlalchemy import Engine

from fileintel.backends import backend_for
from fileintel.db import make_engine, read_tx, write_tx
from fileintel.store.event_tail import OutboxTail, events_between
from fileintel.store.outbox_rows import add_dispatch
from tests.helpers import wait_for


def add(engine: Engine, n: int, key: str = "k") -> list[int]:
    ids = []
    with write_tx(engine) as conn:
        for i in range(n):
            ids.append(backend_for(conn).add_event(conn, "t", key, {"i": i, "key": key}))
    return ids


def read(engine: Engine, tail: OutboxTail) -> list[int]:
    with read_tx(engine) as conn:
        return [e.position for e in tail.read(conn)]


def test_reads_events_in_order_from_the_end(engine: Engine) -> None:
    add(engine, 3)
    with read_tx(engine) as conn:
        tail = OutboxTail.at_end(conn)
    assert read(engine, tail) == []
    first = add(engine, 2)
    with write_tx(engine) as conn:  # a dispatch row moves the position, is not an event
        add_dispatch(conn, queue_name="q", actor_name="actor", args=["x"], key="k")
    second = add(engine, 2, key="other")
    assert read(engine, tail) == first + second
    assert read(engine, tail) == []
    with read_tx(engine) as conn:
        mine = events_between(conn, 0, second[-1], "other")
        assert [e.position for e in mine] == second
        assert [e.payload["i"] for e in mine] == [0, 1]


def test_a_missing_id_holds_the_reader_until_its_transaction_ends(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        holds_until_its_transaction_ends(engine)
    finally:
        engine.dispose()


def holds_until_its_transaction_ends(engine: Engine) -> None:
    """A committed id above an open transaction's waits for it; a rolled-back one is passed."""
    with read_tx(engine) as conn:
        # A short hold: a long transaction of another test session holds the horizon back.
        tail = OutboxTail(OutboxTail.at_end(conn).position, hold_seconds=2.0)
    slow = engine.connect()
    slow_tx = slow.begin()
    held = backend_for(slow).add_event(slow, "t", "slow", {"i": "slow"})
    later = add(engine, 1)  # committed first, with the higher id
    assert later[0] > held
    for _ in range(3):
        assert read(engine, tail) == [] and tail.waiting
    slow_tx.commit()
    slow.close()
    assert read(engine, tail) == [held, *later]
    # A rolled-back id is passed once its transaction has ended (and every other one that
    # was running then: other databases of the server count too), or after the hold.
    lost = engine.connect()
    lost_tx = lost.begin()
    backend_for(lost).add_event(lost, "t", "lost", {"i": "lost"})
    after = add(engine, 1)
    assert read(engine, tail) == [] and tail.waiting
    lost_tx.rollback()
    lost.close()
    got: list[int] = []

    def passed() -> list[int]:
        got.extend(read(engine, tail))
        return got

    wait_for(passed, 15, "the id after the rolled-back one")
    assert got == after and not tail.waiting
