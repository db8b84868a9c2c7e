"""Running the transition benchmark's movers: round-robin cycling of the pool, timed windows
in spawned processes (best and median compared by the script), and a cProfile of the
fileintel path.
"""

from __future__ import annotations

import cProfile
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.common.profiling import cprofile_top
from benchmarks.transitions.movers import FileIntelMover, RawMover
from benchmarks.transitions.pool import NEXT, S, pool_state
from benchmarks.transitions.variants import CteMover, PrebuiltMover

MOVERS: dict[str, Callable[[str], Any]] = {
    "raw": RawMover,
    "fileintel": FileIntelMover,
    "prebuilt": PrebuiltMover,
    "cte": CteMover,
}


# --- running the phases -------------------------------------------------------------------


def cycle(mover: Any, state: dict[str, tuple[str, int]], seconds: float) -> int:
    """Move the collections round-robin for ``seconds``; return the number of moves.

    ``state`` maps collection id to (status, version) and is kept up to date in place.
    """
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for cid, (status, version) in state.items():
            target = NEXT[S(status)]
            state[cid] = (target.value, mover.move(cid, target, version))
            done += 1
    return done


def _worker(
    url: str,
    kinds: list[str],
    state: dict[str, tuple[str, int]],
    barrier: Any,
    jobs: Any,
    out: Any,
) -> None:
    """A benchmark process: holds one mover per kind; runs ``(kind, seconds)`` jobs until None."""
    movers = {kind: MOVERS[kind](url) for kind in kinds}  # connect before any timing
    while (job := jobs.get()) is not None:
        kind, seconds = job
        barrier.wait()
        started, cpu = time.perf_counter(), time.process_time()
        count = cycle(movers[kind], state, seconds)
        out.put((count, time.perf_counter() - started, time.process_time() - cpu))
    for mover in movers.values():
        mover.close()


@dataclass
class Window:
    """One timed window of one kind: transactions per second and client CPU per move."""

    rate: float
    cpu_us: float


class Workers:
    """``n`` spawned benchmark processes sharing the pool of collections between them."""

    def __init__(self, url: str, ids: list[str], n: int, kinds: list[str]) -> None:
        state = pool_state(url, ids)
        ctx = multiprocessing.get_context("spawn")
        self.barrier = ctx.Barrier(n)
        self.out: Any = ctx.Queue()
        self.jobs: list[Any] = [ctx.Queue() for _ in range(n)]
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(
                    url,
                    kinds,
                    {c: state[c] for c in ids[k::n]},
                    self.barrier,
                    self.jobs[k],
                    self.out,
                ),
            )
            for k in range(n)
        ]
        for p in self.procs:
            p.start()

    def run(self, kind: str, seconds: float) -> Window:
        for q in self.jobs:
            q.put((kind, seconds))
        results = [self.out.get(timeout=seconds * 10 + 120) for _ in self.procs]
        count = sum(r[0] for r in results)
        elapsed = max(r[1] for r in results)
        cpu = sum(r[2] for r in results)
        return Window(rate=count / elapsed, cpu_us=1e6 * cpu / count)

    def close(self) -> None:
        for q in self.jobs:
            q.put(None)
        for p in self.procs:
            p.join(timeout=60)


def profile(url: str, ids: list[str], seconds: float) -> str:
    """cProfile of the fileintel mover in this process; the top functions by cumulative time."""
    mover = FileIntelMover(url)
    state = pool_state(url, ids)
    cycle(mover, state, 0.5)  # warm the statement cache
    profiler = cProfile.Profile()
    profiler.enable()
    count = cycle(mover, state, seconds)
    profiler.disable()
    mover.close()
    return f"{count} moves profiled\n{cprofile_top(profiler, 30)}"
