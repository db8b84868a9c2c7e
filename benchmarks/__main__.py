"""Run the benchmarks: ``python -m benchmarks [NAME...]``.

Every package ``benchmarks/<subject>/`` with a ``bench.py`` that defines ``main()`` is a
benchmark; with no arguments all of them run, in name order, else only those named
(``transitions``; the former module name ``bench_transitions`` is accepted too). Each one
prints its own report; this runner adds a summary and exits 1 if any of them failed (raised,
or returned a non-zero code). One subject alone, with its own options:
``python -m benchmarks.<subject> --help``.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Subjects of the benchmarks, e.g. ``["status", "transitions"]``."""
    return sorted(p.parent.name for p in HERE.glob("*/bench.py"))


def subject(name: str) -> str:
    """``bench_transitions`` or ``transitions`` -> ``transitions``."""
    return name.removeprefix("bench_")


def run_one(name: str) -> tuple[bool, float]:
    """Import and run one benchmark; return (succeeded, seconds)."""
    module = importlib.import_module(f"benchmarks.{name}.bench")
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
        chosen = [subject(n) for n in wanted]
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
