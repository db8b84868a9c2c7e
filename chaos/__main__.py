"""``python -m chaos [--seed N] [--seconds S] [--collections C] [--hosts H]``."""

from __future__ import annotations

import argparse
import logging
import random
import sys

from chaos.runner import Options, Run, missing_prerequisite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chaos ARGS=...", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the faults")
    parser.add_argument("--collections", type=int, default=200)
    parser.add_argument("--documents", type=int, default=10, help="per collection")
    parser.add_argument("--hosts", type=int, default=2, help="worker hosts (namespaces)")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.hosts > 50 or args.collections < 1 or args.documents < 1:
        parser.error("--hosts must be 1-50, --collections and --documents at least 1")
    reason = missing_prerequisite()
    if reason is not None:
        print(f"chaos: cannot run here: {reason}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the broken files of the pool
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    options = Options(seed, args.seconds, args.collections, args.documents, args.hosts)
    return Run(options).main()


if __name__ == "__main__":
    sys.exit(main())
