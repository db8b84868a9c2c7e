"""Where the processing benchmark's worker threads and relay spend their time: py-spy
samples (``benchmarks.common.profiling``) sorted into activities by the functions on the
stack. The first marker found on a stack names its activity, so the order matters."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common.profiling import shares

PROFILE_CATEGORIES = (
    ("process_file (", "pipeline: extract, chunk, embed, metadata"),
    (".commit (", "commit (WAL flush)"),
    ("_checkout (", "connection checkout"),
    ("copy_chunks (", "finish: chunks (COPY)"),
    ("finalize_run (", "finish: close the run"),
    ("commit_outcome (", "finish: outcome, counters, event"),
    ("take_document (", "claim"),
    ("release_claim (", "lease: give back"),
    ("LeaseKeeper.", "lease: hold / release"),
)


RELAY_CATEGORIES = (
    ("Wakeup.wait (", "waiting for NOTIFY / poll"),
    ("_keep_key_prefixes (", "claim: per-key order query"),
    ("claim_batch (", "claim: SELECT ... FOR UPDATE SKIP LOCKED"),
    (".publish (", "publish (broker enqueue / events)"),
    ("mark_published (", "mark published"),
    (".commit (", "commit"),
    ("run_once (", "pass: other"),
)


def summarise_relay_profile(raw: Path) -> dict[str, float]:
    """Share of the relay's main-thread time per activity (py-spy --idle samples)."""

    def category(stack: str) -> str | None:
        if "run_forever (" not in stack:
            return None
        return next((n for m, n in RELAY_CATEGORIES if m in stack), "loop: other")

    return shares(raw, category)


def summarise_profile(raw: Path) -> dict[str, float]:
    """Share of the Dramatiq worker threads' wall time per activity (py-spy --idle samples)."""

    def category(stack: str) -> str | None:
        if "WorkerThread.run (" not in stack:
            return None
        if "process_message (" not in stack:
            return "idle: waiting for a message"
        return next(
            (name for marker, name in PROFILE_CATEGORIES if marker in stack),
            "actor + Dramatiq overhead",
        )

    return shares(raw, category)
