"""Events to the Redis Stream: the entry fields, pipelining, and a Redis outage."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from fileintel.db import write_tx
from fileintel.messaging.broker import build_broker
from fileintel.models.events import new_event_id
from fileintel.models.states import CollectionStatus
from fileintel.outbox.publishers import RedisStreamSink, stream_fields
from fileintel.outbox.relay import build_relay
from fileintel.store.outbox_rows import add_event
from fileintel.store.transitions import transition
from tests.outbox.support import (
    add_events,
    busy_collection,
    outbox_rows,
    settings_for,
    stream_entries,
    unpublished,
)

NOBODY_LISTENS = "redis://127.0.0.1:6390/0"


def test_status_changes_are_stream_entries_with_the_documented_fields(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    settings = settings_for(db_url, events_url=redis_url, events_stream=stream)
    cid = busy_collection(engine, "fields")
    with write_tx(engine) as conn:
        moved = transition(
            conn, cid, CollectionStatus.QUEUED, actor="cli", new_run_id="run-1", message=None
        )
        add_event(
            conn,
            "document.done",
            cid,
            {
                "event_id": new_event_id(),
                "type": "document.done",
                "collection_id": cid,
                "document_id": 7,
                "error": None,
                "documents": {"total": 2, "done": 1},
                "ok": True,
            },
        )
    relay = build_relay(settings, engine, broker=build_broker("stub://"))

    assert relay.run_once().published == 3
    created, queued, document = stream_entries(redis_url, stream)

    assert created["from"] == "" and created["to"] == "created" and created["seq"] == "1"
    assert {k: queued[k] for k in ("type", "collection_id", "collection_name", "run_id")} == {
        "type": "collection.status_changed",
        "collection_id": cid,
        "collection_name": "fields",
        "run_id": "run-1",
    }
    assert (queued["seq"], queued["from"], queued["to"], queued["message"]) == (
        "2",
        "created",
        "queued",
        "",
    )
    assert queued["event_id"] == moved.event_id and queued["at"].endswith("Z")
    assert document["document_id"] == "7" and document["error"] == "" and document["ok"] == "true"
    assert json.loads(document["documents"]) == {"total": 2, "done": 1}
    relay.close()


def test_stream_fields_flatten_scalars_and_encode_nested_values() -> None:
    assert stream_fields({"a": None, "b": 1.5, "c": [1], "d": "x", "e": False}) == {
        "a": "",
        "b": "1.5",
        "c": "[1]",
        "d": "x",
        "e": "false",
    }


def test_a_batch_is_one_round_trip(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    settings = settings_for(db_url, events_url=redis_url, events_stream=stream)
    add_events(engine, "c", 50)
    sink = RedisStreamSink(settings)
    calls = []
    real_execute = sink.client.pipeline

    def counting_pipeline(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real_execute(*args, **kwargs)  # type: ignore[arg-type]

    sink.client.pipeline = counting_pipeline  # type: ignore[method-assign,assignment]
    outcome = sink.publish(outbox_rows(engine))
    assert not outcome.failed and calls == [1]
    assert len(stream_entries(redis_url, stream)) == 50
    sink.close()


def test_a_redis_outage_parks_nothing_and_the_backlog_drains_afterwards(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    event_ids = add_events(engine, "c1", 5) + add_events(engine, "c2", 5)
    down = build_relay(
        settings_for(db_url, events_url=NOBODY_LISTENS, events_stream=stream),
        engine,
        broker=build_broker("stub://"),
        batch_size=4,
    )

    first = down.run_once()
    assert (first.published, first.failed, first.deferred) == (0, 0, 4)
    again = down.run_once()
    assert (again.published, again.claimed) == (0, 0), "events are left alone for a pause"
    rows = outbox_rows(engine)
    assert all(r.published_at is None and r.attempts == 0 and r.parked_at is None for r in rows)
    down.close()

    up = build_relay(
        settings_for(db_url, events_url=redis_url, events_stream=stream),
        engine,
        broker=build_broker("stub://"),
        batch_size=4,
    )
    while up.run_once().published:
        pass
    assert unpublished(engine) == 0
    assert [e["event_id"] for e in stream_entries(redis_url, stream)] == event_ids
    up.close()


def test_dispatches_flow_while_the_events_sink_is_down(engine: Engine, db_url: str) -> None:
    from fileintel.store.outbox_rows import add_dispatch

    add_events(engine, "c", 3)
    with write_tx(engine) as conn:
        add_dispatch(conn, queue_name="fileintel-runs", actor_name="start_run", args=["r"])
    broker = build_broker("stub://")
    relay = build_relay(settings_for(db_url, events_url=NOBODY_LISTENS), engine, broker=broker)

    first = relay.run_once()

    assert (first.published, first.deferred) == (1, 3)
    assert broker.queues["fileintel-runs"].qsize() == 1
    assert unpublished(engine) == 3
    relay.close()


def test_an_unpublishable_event_fails_alone_and_holds_back_only_its_key(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    with write_tx(engine) as conn:
        add_event(conn, "test.event", "poisoned", {})  # no fields: XADD cannot carry it
    held = add_events(engine, "poisoned", 2)
    free = add_events(engine, "free", 2)
    relay = build_relay(
        settings_for(db_url, events_url=redis_url, events_stream=stream),
        engine,
        broker=build_broker("stub://"),
    )

    result = relay.run_once()

    assert (result.published, result.failed, result.held) == (2, 1, 2)
    assert [e["event_id"] for e in stream_entries(redis_url, stream)] == free
    poisoned = outbox_rows(engine)[0]
    assert poisoned.attempts == 1 and "unpublishable event" in poisoned.last_error
    assert all(r.published_at is None for r in outbox_rows(engine)[1:3]), held
    relay.close()
