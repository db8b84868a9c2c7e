"""Small helpers shared by the test suites.

- ``make_collection(engine, name, n_docs)``: a collection with ``n_docs`` registered
  documents, created through the real store functions (so counters and history are right).
- ``invariant_h_and_o(engine, collection_id)``: asserts invariants H (history is a legal,
  contiguous path ending in the current status) and O (one outbox event per history row,
  same event id, seq, from and to, in seq order); returns the history rows.
- ``fake_facts(prefix, n)``: ``FileFacts`` for files that need not exist on disk.
- ``race_in_threads(db_url, n, attempt)``: run ``attempt(engine, i)`` in ``n`` threads, each
  with its own engine, released together by a barrier; return each outcome.
- ``race_in_processes(n, target, args)``: run ``target(*args, barrier, i)`` in ``n`` spawned
  processes released together by a barrier; return what each one put on its queue.
- ``on_statements(engine, look)``: call ``look(cursor, statement, parameters)`` before every
  statement ``engine`` sends, inside the ``with`` block only.
- ``wait_for(condition, timeout, what)``: poll a condition (never a fixed sleep) until it
  returns something truthy; fail naming what was awaited, with ``details()`` (e.g. logs).

Imports stay light (no pipeline, no CLI) so spawned racers start quickly.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, event, func, select

from fileintel.db import make_engine, read_tx, write_tx
from fileintel.models.events import STATUS_CHANGED
from fileintel.models.states import CollectionStatus, is_allowed
from fileintel.models.tables import collections_t, outbox_t, status_events_t
from fileintel.store.collections import create_collection

if TYPE_CHECKING:
    from fileintel.store.documents import FileFacts


def fake_facts(prefix: str, n: int) -> list[FileFacts]:
    """``n`` distinct text documents under ``prefix`` (paths and hashes only, no files)."""
    from fileintel.store.documents import FileFacts

    return [
        FileFacts(
            path=f"{prefix}/doc-{i:05d}.txt",
            size=100 + i,
            sha256=hashlib.sha256(f"{prefix}/{i}".encode()).hexdigest(),
            media_type="text/plain",
        )
        for i in range(n)
    ]


def make_collection(engine: Engine, name: str, n_docs: int = 0) -> str:
    """Create collection ``name`` with ``n_docs`` pending documents; return its id."""
    from fileintel.store.documents import register_documents

    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="test")
        if n_docs:
            register_documents(conn, collection_id, fake_facts(f"/data/{name}", n_docs))
    return collection_id


def invariant_h_and_o(engine: Engine, collection_id: str) -> list[Any]:
    """Assert invariants H and O for one collection; return its history rows in seq order.

    H: seq is 1..n without gaps, the first row is null → created, every row starts where the
    previous one ended and is a move ``is_allowed`` permits, the last row's ``to`` is
    ``collections.status`` and ``collections.last_seq`` is n.
    O: the collection's ``collection.status_changed`` outbox rows match the history one to
    one (event_id, seq, from, to) and their outbox ids grow with seq.
    """
    e, o, c = status_events_t.c, outbox_t.c, collections_t.c
    with read_tx(engine) as conn:
        coll = conn.execute(select(c.status, c.last_seq).where(c.id == collection_id)).one()
        rows = conn.execute(
            select(e.seq, e.from_status, e.to_status, e.event_id, e.run_id)
            .where(e.collection_id == collection_id)
            .order_by(e.seq)
        ).all()
        events = conn.execute(
            select(o.id, o.kind, o.payload)
            .where(o.key == collection_id, o.topic == STATUS_CHANGED)
            .order_by(o.id)
        ).all()

    seqs = [r.seq for r in rows]
    assert seqs == list(range(1, len(rows) + 1)), f"history seq not contiguous: {seqs}"
    assert rows, "a collection always has its creation row"
    assert (rows[0].from_status, rows[0].to_status) == (None, CollectionStatus.CREATED.value)
    previous: str | None = None
    for r in rows:
        assert r.from_status == previous, f"seq {r.seq} starts at {r.from_status}, not {previous}"
        source = CollectionStatus(r.from_status) if r.from_status is not None else None
        assert is_allowed(source, CollectionStatus(r.to_status)), (
            f"seq {r.seq}: {r.from_status} -> {r.to_status} is not a legal move"
        )
        previous = r.to_status
    assert rows[-1].to_status == coll.status, (
        f"last history row says {rows[-1].to_status}, collection is {coll.status}"
    )
    assert coll.last_seq == len(rows), f"last_seq {coll.last_seq} but {len(rows)} history rows"

    assert all(ev.kind == "event" for ev in events)
    published = [
        (ev.payload["event_id"], ev.payload["seq"], ev.payload["from"], ev.payload["to"])
        for ev in events
    ]
    expected = [(r.event_id, r.seq, r.from_status, r.to_status) for r in rows]
    assert published == expected, f"outbox events {published} do not match history {expected}"
    return list(rows)


def race_in_threads(
    db_url: str, n: int, attempt: Callable[[Engine, int], Any]
) -> list[tuple[str, Any]]:
    """Run ``attempt(engine, i)`` in ``n`` threads released together, one engine each.

    Returns ``("ok", result)`` or ``("error", exception)`` per thread, in thread order.
    """
    engines = [make_engine(db_url) for _ in range(n)]
    for eng in engines:  # open the connections before the barrier, so they start together
        with eng.connect():
            pass
    barrier = threading.Barrier(n)
    results: list[tuple[str, Any]] = [("missing", None)] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ("ok", attempt(engines[i], i))
        except Exception as e:
            results[i] = ("error", e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for eng in engines:
        eng.dispose()
    assert not any(t.is_alive() for t in threads), "a racer hung"
    return results


def race_in_processes(
    n: int, target: Callable[..., None], args: tuple[Any, ...], timeout: float = 120
) -> list[Any]:
    """Start ``n`` spawned processes running ``target(*args, barrier, results, i)``.

    ``target`` must be importable (a module-level function), open its connections, call
    ``barrier.wait()`` and put exactly one picklable outcome on ``results``. Returns the
    outcomes in completion order; fails if a process hangs or exits abnormally.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results, i)) for i in range(n)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=timeout) for _ in range(n)]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return outcomes


def complete_racer(
    db_url: str, collection_id: str, run_id: str, barrier: Any, results: Any, i: int
) -> None:
    """A racer for ``race_in_processes``: fenced ``processing → completed``; puts "ok" or
    "<ErrorClass>: <message>"."""
    from fileintel.store.transitions import transition

    eng = make_engine(db_url)
    with eng.connect():
        pass
    barrier.wait(timeout=60)
    try:
        with write_tx(eng) as conn:
            transition(
                conn,
                collection_id,
                CollectionStatus.COMPLETED,
                actor=f"p{i}",
                run_id=run_id,
                fence_run=True,
            )
        results.put("ok")
    except Exception as e:
        results.put(f"{type(e).__name__}: {e}")
    finally:
        eng.dispose()


T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = 0.02,
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    ``details`` is called on failure and its text added to the message (e.g. process logs).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


@contextmanager
def on_statements(engine: Engine, look: Callable[[Any, str, Any], None]) -> Iterator[None]:
    """Call ``look(cursor, statement, parameters)`` before each statement sent on ``engine``
    (SQLAlchemy's ``before_cursor_execute``) while the block runs."""

    def listener(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        look(cursor, statement, parameters)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def unpublished(engine: Engine) -> int:
    """Outbox rows the relay has not published yet (parked ones included)."""
    with read_tx(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(outbox_t).where(outbox_t.c.published_at.is_(None))
            ).scalar_one()
        )
