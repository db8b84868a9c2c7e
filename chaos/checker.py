"""The verdict: invariants L, H, O, F and I read from the database, the events consumer and
the workers' logs, printed as one table.

- L: every collection terminal; the time from the last fault's end to the last terminal.
- H: each collection's history is 1..n, starts ``null → created``, every move is allowed
  and starts where the last ended, the last ends at ``collections.status``.
- O: one ``collection.status_changed`` outbox row per history row (same event id and seq);
  the consumer saw every committed event, each collection's status events in seq order,
  and nothing the database does not hold (a published row that a crash rolled back).
- F: no row of a superseded run or expired attempt: chunk rows per document equal its
  ``chunk_count``, collection counters equal its documents' states, no document still
  pending or in work in a closed run; the late writes the workers refused are counted.
- I: chunk rows per document equal a clean run of the same content; broken files failed.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from chaos.load import Expected
from fileintel.config import DEFAULT_LEASE_SECONDS
from fileintel.models.states import TERMINAL_STATUSES, CollectionStatus, is_allowed

#: Worker log lines that mean a late or duplicate write was refused.
REFUSED = re.compile(r"discarded|dropped|lease lost|no longer ours")
#: Good documents may fail only because the system gave up on them, never on their content.
GAVE_UP = ("worker lost", "gave up")


@dataclass
class Verdict:
    """One invariant's line of the table."""

    name: str
    checked: str = ""
    violations: list[str] = field(default_factory=list)


def utc(at: dt.datetime) -> dt.datetime:
    """A database time as an aware UTC datetime."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)))


def check_l(engine: Engine, last_fault_end: dt.datetime) -> Verdict:
    v = Verdict("L")
    rows = _rows(engine, "SELECT name, status FROM collections")
    open_ = [r.name for r in rows if CollectionStatus(r.status) not in TERMINAL_STATUSES]
    last = _rows(engine, "SELECT max(status_updated_at) AS at FROM collections")[0].at
    after = (utc(last) - last_fault_end).total_seconds() if last else 0.0
    v.checked = (
        f"{len(rows) - len(open_)}/{len(rows)} terminal; last terminal "
        f"{max(after, 0.0):.1f} s after the last fault ended"
    )
    v.violations += [f"collection {name} never ended" for name in open_]
    return v


def check_h(engine: Engine) -> Verdict:
    v = Verdict("H")
    status = {
        r.id: (r.name, r.status, r.last_seq)
        for r in _rows(engine, "SELECT id, name, status, last_seq FROM collections")
    }
    history: dict[str, list[Any]] = defaultdict(list)
    for r in _rows(
        engine,
        "SELECT collection_id, seq, from_status, to_status "
        "FROM status_events ORDER BY collection_id, seq",
    ):
        history[r.collection_id].append(r)
    moves = 0
    for cid, (name, current, last_seq) in status.items():
        rows = history[cid]
        moves += len(rows)
        if [r.seq for r in rows] != list(range(1, len(rows) + 1)) or last_seq != len(rows):
            v.violations.append(f"{name}: seq not contiguous 1..{last_seq}")
            continue
        previous = None
        for r in rows:
            target = CollectionStatus(r.to_status)
            source = CollectionStatus(r.from_status) if r.from_status else None
            if source != previous or not is_allowed(source, target):
                v.violations.append(f"{name}: illegal move {source} -> {target} at {r.seq}")
            previous = target
        if previous is None or previous.value != current:
            v.violations.append(f"{name}: history ends at {previous}, status is {current}")
    v.checked = f"{len(status)} collections, {moves} moves"
    return v


def check_o(
    engine: Engine, seen: dict[str, tuple[str, str, int | None]], order: list[str]
) -> Verdict:
    v = Verdict("O")
    history = {
        r.event_id: (r.collection_id, r.seq)
        for r in _rows(engine, "SELECT event_id, collection_id, seq FROM status_events")
    }
    events = {}
    for r in _rows(engine, "SELECT payload FROM outbox WHERE kind = 'event'"):
        payload = r.payload
        events[payload["event_id"]] = payload
    status_rows = {e: p for e, p in events.items() if p.get("type") == "collection.status_changed"}
    if set(status_rows) != set(history):
        v.violations.append(
            f"{len(set(history) - set(status_rows))} history rows without their event, "
            f"{len(set(status_rows) - set(history))} events without their history row"
        )
    missed = set(events) - seen.keys()
    if missed:
        v.violations.append(f"{len(missed)} committed events never reached the consumer")
    phantom = seen.keys() - set(events)
    if phantom:
        v.violations.append(f"{len(phantom)} events published that the database does not hold")
    last: dict[str, int] = {}
    disorder = 0
    for event_id in order:
        cid, kind, seq = seen[event_id]
        if kind == "collection.status_changed" and seq is not None:
            disorder += seq <= last.get(cid, 0)
            last[cid] = max(seq, last.get(cid, 0))
    if disorder:
        v.violations.append(f"{disorder} status events seen out of seq order")
    v.checked = f"{len(events)} events committed, {len(seen)} consumed (deduped by id)"
    return v


def check_f(engine: Engine, logs: list[Path]) -> Verdict:
    v = Verdict("F")
    for r in _rows(
        engine,
        """
        SELECT d.id, d.chunk_count, count(c.id) AS rows FROM documents d
        LEFT JOIN chunks c ON c.document_id = d.id GROUP BY d.id, d.chunk_count
        HAVING count(c.id) <> d.chunk_count""",
    ):
        v.violations.append(f"document {r.id}: {r.rows} chunk rows, chunk_count {r.chunk_count}")
    for r in _rows(
        engine,
        """
        SELECT c.name, c.documents_total, c.documents_pending, c.documents_processing,
               c.documents_done, c.documents_failed, c.documents_skipped, c.chunks_total,
               (SELECT count(*) FROM documents d WHERE d.collection_id = c.id) AS total,
               (SELECT count(*) FROM chunks k WHERE k.collection_id = c.id) AS chunks
          FROM collections c""",
    ):
        states = (
            r.documents_pending
            + r.documents_processing
            + r.documents_done
            + r.documents_failed
            + r.documents_skipped
        )
        if (r.documents_total, states, r.chunks_total) != (r.total, r.total, r.chunks):
            v.violations.append(f"{r.name}: counters disagree with its documents")
    for r in _rows(
        engine,
        """
        SELECT c.name, count(*) AS n FROM collections c JOIN documents d
          ON d.collection_id = c.id AND d.run_id = c.current_run_id
         WHERE c.status IN ('completed', 'completed_with_errors', 'failed')
           AND d.state IN ('pending', 'processing') GROUP BY c.name""",
    ):
        v.violations.append(f"{r.name}: {r.n} documents still open in its closed run")
    refused = sum(len(REFUSED.findall(p.read_text(errors="replace"))) for p in logs)
    v.checked = f"chunks, counters, closed runs; {refused} late or duplicate writes refused"
    return v


#: A worker's debug line for a document it finished, with the log's local timestamp.
DONE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ DEBUG .* (done|failed)$", re.M)


def check_healed_hosts(faults: list[Any], workdir: Path, last_submitted: dt.datetime) -> list[str]:
    """A host healed while work still came must carry on: its worker finishes documents
    after the heal (its late writes are refused: counted under F)."""
    problems = []
    for f in faults:
        if f.kind != "host_cut_off" or f.ended is None:
            continue
        if (last_submitted - f.ended).total_seconds() < 10:
            continue  # no new work came after the heal
        healed = f.ended.astimezone().replace(tzinfo=None, microsecond=0)
        log = (workdir / f"worker-{f.target}.log").read_text(errors="replace")
        stamps = [dt.datetime.fromisoformat(m.group(1)) for m in DONE_LINE.finditer(log)]
        if not any(stamp > healed for stamp in stamps):
            problems.append(f"host {f.target} did no work after it was healed at {healed}")
    return problems


def check_slow_links(engine: Engine, faults: list[Any]) -> list[str]:
    """A slow link must not make the sweeper take a live document: no lease expired while
    a link was slow, or within a lease after (every earlier fault had settled before)."""
    problems = []
    notes = _rows(engine, "SELECT at, message FROM run_notes WHERE decision = 'redispatch_expired'")
    for f in faults:
        if f.kind != "slow_link" or f.ended is None:
            continue
        until = f.ended + dt.timedelta(seconds=DEFAULT_LEASE_SECONDS)
        false = [n for n in notes if f.started <= utc(n.at) <= until]
        problems += [
            f"slow link of {f.target}: live document recovered: {n.message}" for n in false
        ]
    return problems


def check_i(engine: Engine, expected: dict[str, Expected]) -> Verdict:
    v = Verdict("I")
    gave_up = checked = 0
    for r in _rows(
        engine,
        """
        SELECT d.id, d.path, d.sha256, d.state, d.error, d.chunk_count,
               (SELECT count(*) FROM chunks k WHERE k.document_id = d.id) AS rows
          FROM documents d JOIN collections c ON c.id = d.collection_id
         WHERE c.status <> 'cancelled'""",
    ):
        want = expected[r.sha256]
        checked += 1
        if r.state == "done" and (want.state != "done" or r.rows != want.chunks):
            v.violations.append(
                f"document {r.id} ({r.path}): {r.rows} chunks, clean run "
                f"{want.state} with {want.chunks}"
            )
        elif r.state == "failed" and want.state == "done":
            if any(word in (r.error or "") for word in GAVE_UP):
                gave_up += 1
            else:
                v.violations.append(f"document {r.id} failed: {r.error}")
    v.checked = f"{checked} documents; {gave_up} good ones given up after lost workers/retries"
    return v


def recovery_table(watches: list[dict[str, Any]]) -> list[str]:
    """Median and worst recovery per fault kind."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    never: Counter[str] = Counter()
    for w in watches:
        if w["seconds"] is not None:
            by_kind[w["kind"]].append(w["seconds"])
        else:
            never[w["kind"]] += 1
    lines = [f"{'fault kind':<22} {'n':>3} {'median s':>9} {'worst s':>8} {'not through':>11}"]
    for kind in sorted(by_kind.keys() | never.keys()):
        times = by_kind[kind] or [float("nan")]
        lines.append(
            f"{kind:<22} {len(by_kind[kind]):>3} {statistics.median(times):>9.1f} "
            f"{max(times):>8.1f} {never[kind]:>11}"
        )
    return lines


def table(verdicts: list[Verdict]) -> list[str]:
    lines = [f"{'':<3} {'result':<6} {'violations':>10}  checked"]
    for v in verdicts:
        result = "ok" if not v.violations else "FAIL"
        lines.append(f"{v.name:<3} {result:<6} {len(v.violations):>10}  {v.checked}")
        lines += [f"      - {problem}" for problem in v.violations[:10]]
    return lines


def fault_counts(kinds: list[str]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(Counter(kinds).items()))
