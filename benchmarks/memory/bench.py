"""Peak RSS of a worker process on one big text file, a 300-page PDF and many small files.

    .venv/bin/python -m benchmarks.memory [--text-mb 200] [--pages 300] [--files 10000]

Each case is ``fileintel ingest`` of its input on a fresh SQLite file with one worker
process (``--processes 1 --threads 2``); the peak resident memory (``VmHWM``) of the worker
process and of the ``ingest`` process itself is read from /proc while they run. Cases:

- the big text file with the default limits (refused by ``FILEINTEL_MAX_FILE_MB``, 50), and
  with ``FILEINTEL_MAX_FILE_MB`` raised above its size, so it is streamed until
  ``FILEINTEL_MAX_CHUNKS_PER_DOCUMENT`` refuses it;
- a text file of ``--fit-mb`` (18) MB, under every limit: processed, about 18,000 chunks,
  close to ``FILEINTEL_MAX_CHUNKS_PER_DOCUMENT`` (20,000): the most one document may hold;
- a PDF of ``--pages`` pages written by ``fileintel.pipeline.pdfgen``;
- ``--files`` small text files (2–6 KB) in one collection.

Target: every worker peak under 500 MB. Exit code 0 when met, 1 when not.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common.peak_rss import MB, watch_peaks
from benchmarks.common.processes import FILEINTEL, fileintel_environment
from benchmarks.common.report import verdict

TARGET_MB = 500
WORDS = ["orbit", "harbour", "lattice", "meadow", "quartz.", "signal", "timber\n\n", "vessel"]


def write_text(path: Path, megabytes: float, seed: int = 1) -> Path:
    """A text file of about ``megabytes`` MB, written in blocks."""
    rng = random.Random(seed)
    block = " ".join(rng.choice(WORDS) for _ in range(200_000)).encode() + b"\n"
    with path.open("wb") as out:
        left = int(megabytes * MB)
        while left > 0:
            out.write(block[:left])
            left -= len(block)
    return path


def write_pdf(path: Path, pages: int) -> Path:
    """A PDF of ``pages`` pages of about 2 KB of text each."""
    from fileintel.pipeline.pdfgen import write_minimal_pdf

    rng = random.Random(2)
    texts = [" ".join(rng.choice(WORDS) for _ in range(300)) for _ in range(pages)]
    write_minimal_pdf(path, texts, title="Many pages")
    return path


def write_small_files(root: Path, files: int) -> Path:
    """``files`` text files of 2–6 KB under ``root``."""
    rng = random.Random(3)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        words = rng.randint(300, 900)
        (root / f"note-{i:05d}.txt").write_text(" ".join(rng.choice(WORDS) for _ in range(words)))
    return root


def ingest_peaks(workdir: Path, name: str, target: Path, **env: str) -> tuple[int, int, float, int]:
    """(worker peak, ingest peak, seconds, exit code) of ``ingest TARGET`` on a fresh file."""
    db = workdir / f"{name}.db"
    environment = fileintel_environment(FILEINTEL_DATABASE_URL=f"sqlite:///{db}", **env)
    subprocess.run([FILEINTEL, "db", "upgrade"], env=environment, check=True, capture_output=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [FILEINTEL, "ingest", str(target), "--collection", name, "--processes", "1"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peaks = watch_peaks(proc)
    seconds = time.perf_counter() - started
    ingest = peaks.pop(proc.pid, 0)
    return max(peaks.values(), default=0), ingest, seconds, proc.returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--text-mb", type=float, default=200)
    parser.add_argument("--fit-mb", type=float, default=18)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fileintel-memory-"))
    try:
        big = write_text(workdir / "big.txt", args.text_mb)
        raised = str(int(args.text_mb) + 10)
        cases = [
            (f"{args.text_mb:g} MB text, default limits", big, {}),
            (
                f"{args.text_mb:g} MB text, FILEINTEL_MAX_FILE_MB={raised}",
                big,
                {"FILEINTEL_MAX_FILE_MB": raised},
            ),
            (f"{args.fit_mb:g} MB text", write_text(workdir / "fit.txt", args.fit_mb), {}),
            (f"{args.pages}-page PDF", write_pdf(workdir / "pages.pdf", args.pages), {}),
            (f"{args.files} small files", write_small_files(workdir / "small", args.files), {}),
        ]
        rows = []
        for i, (label, target, env) in enumerate(cases):
            worker, ingest, seconds, code = ingest_peaks(workdir, f"case{i}", target, **env)
            rows.append((label, worker, ingest, seconds, code))
            print(f"{label}: worker {worker / MB:.0f} MB, ingest {ingest / MB:.0f} MB", flush=True)
        print(f"\n{'case':<44} {'worker MB':>9} {'ingest MB':>9} {'seconds':>8} {'exit':>4}")
        for label, worker, ingest, seconds, code in rows:
            print(f"{label:<44} {worker / MB:>9.0f} {ingest / MB:>9.0f} {seconds:>8.1f} {code:>4}")
        met = all(0 < worker < TARGET_MB * MB for _, worker, _, _, _ in rows)
        print(f"\ntarget: every worker peak < {TARGET_MB} MB: {verdict(met)}")
        return 0 if met else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
