"""Two relays, one busy collection (PostgreSQL): order per collection and no double publish.

A writer thread moves one collection through the real transition function while two relays
run their daemon loops (LISTEN/NOTIFY, SKIP LOCKED) in threads with small batches, so they
compete for the same key all the time. A consumer reading the stream must see the
collection's ``seq`` contiguous and in order, and nothing crashed, so every event id must
be in the stream exactly once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from fileintel.db import make_engine
from fileintel.messaging.broker import build_broker
from fileintel.outbox.relay import Relay, RelayResult, build_relay
from tests.helpers import wait_for
from tests.outbox.support import busy_collection, cycle, settings_for, stream_entries, unpublished

MOVES = 450


def test_two_relays_keep_a_busy_collections_order(
    pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    stream = f"{redis_prefix}events"
    settings = settings_for(pg_url, events_url=redis_url, events_stream=stream)
    engines = [make_engine(pg_url) for _ in range(3)]
    relays: list[Relay] = [
        build_relay(settings, en, broker=build_broker("stub://"), batch_size=7, poll_seconds=0.5)
        for en in engines[:2]
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=r.run_forever, args=(stop,)) for r in relays]
    published = [0, 0]
    originals = [r.run_once for r in relays]

    def counting(i: int) -> Callable[[], RelayResult]:
        def run_once() -> RelayResult:
            result = originals[i]()
            published[i] += result.published
            return result

        return run_once

    for i, r in enumerate(relays):
        r.run_once = counting(i)  # type: ignore[method-assign]
    try:
        for t in threads:
            t.start()
        cid = busy_collection(engines[2], "busy")
        cycle(engines[2], cid, MOVES)
        wait_for(lambda: unpublished(engines[2]) == 0, 30, "the relays to drain")
    finally:
        stop.set()
        for r in relays:
            r.wake()
        for t in threads:
            t.join(10)
        for engine in engines:
            engine.dispose()

    entries = [x for x in stream_entries(redis_url, stream) if x["collection_id"] == cid]
    counts = Counter(x["event_id"] for x in entries)
    assert len(counts) == MOVES + 1
    assert max(counts.values()) == 1, "no event published twice"
    seen: set[str] = set()
    seqs = []
    for entry in entries:  # what a consumer that dedupes by event id sees
        if entry["event_id"] not in seen:
            seen.add(entry["event_id"])
            seqs.append(int(entry["seq"]))
    assert seqs == list(range(1, MOVES + 2))
    assert all(n > 0 for n in published), f"both relays should have worked: {published}"
