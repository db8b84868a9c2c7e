"""Status transitions per second: the real transition function beside raw psycopg2.

``python -m benchmarks.transitions [--seconds S] [--rounds R] [--collections N]
[--profile] [--variants]``

A pool of collections is cycled ``queued → processing → completed → queued …`` round-robin,
one transaction per move. Each move is the guarded UPDATE (with a version compare-and-set),
the history row and the outbox event:

- ``fileintel``: ``transition(...)`` inside ``write_tx`` on an engine from ``make_engine``,
  exactly as the workers and the CLI call it;
- ``raw``: the same three statements as plain SQL through one psycopg2 connection;
- with ``--variants``, two candidate ways of making ``transition()`` cheaper: ``prebuilt``
  (the same SQLAlchemy statements built once with bind parameters, no pre-ping) and ``cte``
  (the three writes as one data-modifying statement, one round trip).

They run in 1 and in 2 processes (multiprocessing, spawn), in interleaved windows of fixed
length (raw, fileintel, raw, ...). The best window of each kind is compared: other load on a
shared machine only ever slows a window down. Client CPU per move is reported too; it does
not depend on that load. The benchmark creates and drops its own PostgreSQL database
(``fileintel_bench_tx``); set ``FILEINTEL_BENCH_PG_URL`` to use another server than the
local one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass

from benchmarks.common.databases import scratch_database
from benchmarks.common.report import verdict
from benchmarks.transitions.pool import make_pool
from benchmarks.transitions.windows import Window, Workers, profile

DB_NAME = "fileintel_bench_tx"
TARGET_RATIO = 0.7


# --- report -------------------------------------------------------------------------------


@dataclass
class Report:
    windows: dict[tuple[str, int], list[Window]]

    def best(self, kind: str, processes: int) -> float:
        return max(w.rate for w in self.windows[(kind, processes)])

    def median(self, kind: str, processes: int) -> float:
        return statistics.median(w.rate for w in self.windows[(kind, processes)])

    def cpu(self, kind: str, processes: int) -> float:
        return statistics.median(w.cpu_us for w in self.windows[(kind, processes)])

    def ratio(self, kind: str, processes: int) -> float:
        return self.best(kind, processes) / self.best("raw", processes)

    def lines(self) -> list[str]:
        out = [
            "processes  kind       best tx/s  median tx/s  client CPU us/tx  vs raw (best)",
        ]
        kinds = list(dict.fromkeys(k for k, _ in self.windows))
        for processes in sorted({p for _, p in self.windows}):
            for kind in kinds:
                ratio = ""
                if kind != "raw":
                    r = self.ratio(kind, processes)
                    ratio = f"{r:.2f}"
                    if kind == "fileintel":
                        ratio += f" ({verdict(r >= TARGET_RATIO)})"
                out.append(
                    f"{processes:>9}  {kind:<9}  {self.best(kind, processes):>9.0f}  "
                    f"{self.median(kind, processes):>11.0f}  "
                    f"{self.cpu(kind, processes):>16.0f}  {ratio}"
                )
        out.append(f"target: fileintel >= {TARGET_RATIO} x raw")
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transitions")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one window")
    parser.add_argument("--rounds", type=int, default=3, help="windows per kind, interleaved")
    parser.add_argument("--collections", type=int, default=200, help="size of the pool")
    parser.add_argument("--profile", action="store_true", help="also cProfile the fileintel path")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="also time candidate improvements (prebuilt statements; one CTE statement)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    kinds = ["raw", "fileintel"] + (["prebuilt", "cte"] if args.variants else [])

    with scratch_database(DB_NAME) as url:
        ids = make_pool(url, args.collections)
        print(
            f"{args.collections} collections cycling queued -> processing -> completed -> "
            f"queued; {args.rounds} interleaved windows of {args.seconds:.0f} s per kind"
        )
        windows: dict[tuple[str, int], list[Window]] = {}
        for processes in (1, 2):
            workers = Workers(url, ids, processes, kinds)
            try:
                for _ in range(args.rounds):
                    for kind in kinds:
                        window = workers.run(kind, args.seconds)
                        windows.setdefault((kind, processes), []).append(window)
                        print(
                            f"  {processes} process(es) {kind:<9} {window.rate:7.0f} tx/s "
                            f"{window.cpu_us:6.0f} us CPU/tx",
                            flush=True,
                        )
            finally:
                workers.close()
        print("\n".join(Report(windows).lines()))
        if args.profile:
            print(profile(url, ids, min(args.seconds, 4.0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
