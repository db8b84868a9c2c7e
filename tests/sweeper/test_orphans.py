"""``sweeper.orphans``: what embedded processes known to be gone held is sent again at once,
and what still waits in the outbox is left alone (both backends)."""

from __future__ import annotations

from sqlalchemy import Engine

from fileintel.sweeper.orphans import recover_orphans
from tests.helpers import invariant_h_and_o
from tests.sweeper.support import claim, document, publish_outbox, queued, run_row, started


def test_lost_messages_and_leases_are_recovered_and_outbox_rows_left_alone(
    engine: Engine,
) -> None:
    running = started(engine, "running", 4)
    lost_start = queued(engine, "lost-start", 1)
    publish_outbox(engine)  # the relay sent all of it to a process that is gone
    claim(engine, running, running.doc_ids[0])
    waiting = queued(engine, "waiting", 1)  # its start is still in the outbox
    waiting_heartbeat = run_row(engine, waiting.run_id).heartbeat_at

    without_leases = recover_orphans(engine, 3, leases=False)
    assert dict(without_leases.decisions) == {"redispatch_unclaimed": 3, "redispatch_start": 1}
    assert (
        document(engine, running.doc_ids[0]).state,
        document(engine, running.doc_ids[0]).attempt,
    ) == ("processing", 1)

    with_leases = recover_orphans(engine, 3, leases=True)
    assert dict(with_leases.decisions) == {"redispatch_expired": 1}, "the rest is in the outbox"
    assert [document(engine, i).attempt for i in running.doc_ids] == [2, 2, 2, 2]
    assert {document(engine, i).state for i in running.doc_ids} == {"pending"}
    assert run_row(engine, waiting.run_id).heartbeat_at == waiting_heartbeat

    assert recover_orphans(engine, 3, leases=True).acted == 0, "a second recovery finds nothing"
    for work in (running, lost_start, waiting):
        invariant_h_and_o(engine, work.collection_id)
