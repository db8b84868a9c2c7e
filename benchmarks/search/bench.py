"""The entry point of ``python -m benchmarks.search``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the quality benchmark, the latency benchmark, or both (the default)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search")
    parser.add_argument("what", nargs="?", choices=("quality", "latency", "all"), default="all")
    parser.add_argument("--database-url", help="quality: a migrated database (default: SQLite)")
    parser.add_argument("--chunks", type=int, default=1_000_000, help="latency: collection size")
    parser.add_argument("--queries", type=int, default=50, help="latency: timed queries")
    args = parser.parse_args(argv)
    from benchmarks.search import latency, quality

    code = 0
    if args.what in ("quality", "all"):
        code |= quality.run(args.database_url)
    if args.what in ("latency", "all"):
        code |= latency.run(args.chunks, args.queries)
    return code
