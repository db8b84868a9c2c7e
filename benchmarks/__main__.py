"""Run the benchmarks: ``python -m benchmarks [NAME...]``.

Every ``benchmarks/bench_*.py`` module that defines ``main()`` is a benchmark; with no
arguments all of them run, in name order, else only those named (``transitions`` or
``bench_transitions``). Each one prints its own report; this runner adds a summary and exits
1 if any of them failed (raised, or returned a non-zero code).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Module names of the benchmarks, e.g. ``["bench_status", "bench_transitions"]``."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def run_one(name: str) -> tuple[bool, float]:
    """Import and run one benchmark; return (succeeded, seconds)."""
    module = importlib.import_module(f"benchmarks.{name}")
    entry = getattr(module, "main", None)
    if not callable(entry):
        print(f"-- {name}: no main(), skipped")
        return True, 0.0
    print(f"== {name}", flush=True)
    saved_argv = sys.argv
    sys.argv = [f"benchmarks.{name}"]  # each benchmark parses its own (empty) arguments
    started = time.perf_counter()
    try:
        code = entry()
        ok = code in (None, 0)
    except SystemExit as e:
        ok = e.code in (None, 0)
    except Exception:
        traceback.print_exc()
        ok = False
    finally:
        sys.argv = saved_argv
    return ok, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    wanted = sys.argv[1:] if argv is None else argv
    names = discover()
    if wanted:
        chosen = [n if n.startswith("bench_") else f"bench_{n}" for n in wanted]
        unknown = [n for n in chosen if n not in names]
        if unknown:
            print(f"unknown benchmark(s): {', '.join(unknown)}; have {', '.join(names)}")
            return 2
        names = chosen
    results = [(name, *run_one(name)) for name in names]
    print("\n== summary")
    for name, ok, seconds in results:
        print(f"  {name:<24} {'ok' if ok else 'FAILED':<7} {seconds:6.1f} s")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
