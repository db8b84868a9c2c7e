"""The load: a pool of good and broken files, and collections submitted over time.

The pool holds distinct contents (text, Markdown and HTML of random words, and three kinds
of broken file). Each collection gets ``documents`` files drawn from the pool without
repetition, copied under a folder of its own, and is created, registered and queued in one
transaction through FileIntel's named operations (what ``collections create``, ``add`` and
``process`` do). ``expected`` is what a clean run gives each content: ``done`` with its
chunk count, or ``failed`` — the reference of invariant I.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from fileintel.db import write_tx
from fileintel.errors import DocumentError, InputError
from fileintel.pipeline import PipelineOptions, process_file
from fileintel.store.collections import create_collection
from fileintel.store.documents import register_scan, scan_paths
from fileintel.store.runs import request_processing

log = logging.getLogger("chaos")

WORDS = [
    "river",
    "mountain",
    "forest",
    "ocean",
    "harbour",
    "valley",
    "glacier",
    "desert",
    "island",
    "meadow",
    "canyon",
    "data",
    "model",
    "ledger",
    "archive",
    "invoice",
    "contract",
    "sensor",
    "turbine",
    "reactor",
    "protocol",
    "lattice",
    "enzyme",
    "protein",
    "orbit",
    "comet",
    "nebula",
    "quasar",
    "basalt",
    "granite",
    "estuary",
    "delta",
    "monsoon",
    "tundra",
    "savanna",
    "prairie",
]
GOOD_FILES = 40
#: Broken kinds: empty, a PDF of random bytes, a binary blob (two variants of the last two).
BROKEN_FILES = 5


@dataclass(frozen=True)
class Expected:
    """What a clean run of one content gives."""

    state: str
    chunks: int


def _text(rng: random.Random, words: int) -> str:
    paragraphs = []
    for _ in range(max(1, words // 80)):
        paragraphs.append(" ".join(rng.choice(WORDS) for _ in range(80)).capitalize() + ".")
    return "\n\n".join(paragraphs)


def make_pool(folder: Path, rng: random.Random) -> list[Path]:
    """Write the pool of distinct files into ``folder``."""
    folder.mkdir(parents=True)
    pool: list[Path] = []
    for i in range(GOOD_FILES):
        body = _text(rng, rng.randint(150, 2500))
        kind = i % 3
        if kind == 0:
            path, data = folder / f"notes-{i}.txt", body
        elif kind == 1:
            path, data = folder / f"guide-{i}.md", f"# Guide {i}\n\n{body}"
        else:
            paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
            path, data = (
                folder / f"page-{i}.html",
                f"<html><body><h1>Page {i}</h1>{paras}</body></html>",
            )
        path.write_text(data, encoding="utf-8")
        pool.append(path)
    (folder / "empty.txt").write_bytes(b"")
    pool.append(folder / "empty.txt")
    for i in range(2):
        (folder / f"broken-{i}.pdf").write_bytes(b"%PDF-1.4\n" + rng.randbytes(3000))
        (folder / f"blob-{i}.bin").write_bytes(bytes([0, 159, 146, 150]) + rng.randbytes(4000))
        pool += [folder / f"broken-{i}.pdf", folder / f"blob-{i}.bin"]
    return pool


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clean_outcomes(pool: list[Path]) -> dict[str, Expected]:
    """A clean run of every content, outside any system: sha256 → expected outcome."""
    expected: dict[str, Expected] = {}
    for path in pool:
        try:
            result = process_file(path, PipelineOptions())
        except DocumentError:
            expected[sha256(path)] = Expected("failed", 0)
        else:
            expected[sha256(path)] = Expected("done", len(result.chunks))
    return expected


def collection_files(folder: Path, pool: list[Path], documents: int, rng: random.Random) -> Path:
    """Copy ``documents`` distinct pool files (about one in five broken) into ``folder``."""
    good, broken = pool[:GOOD_FILES], pool[GOOD_FILES:]
    n_broken = min(len(broken), sum(rng.random() < 0.2 for _ in range(documents)))
    chosen = rng.sample(good, documents - n_broken) + rng.sample(broken, n_broken)
    folder.mkdir(parents=True)
    for path in chosen:
        shutil.copyfile(path, folder / path.name)
    return folder


def submit(engine: Engine, name: str, folder: Path, retry_for: float = 120.0) -> str:
    """Create, register and queue collection ``name`` in one transaction; retried while
    the database is away. Returns its id."""
    deadline = time.monotonic() + retry_for
    facts = scan_paths([str(folder)])
    while True:
        try:
            with write_tx(engine) as conn:
                cid = create_collection(conn, name, actor="chaos")
                register_scan(conn, cid, facts)
                request_processing(
                    conn,
                    cid,
                    options={**PipelineOptions().as_dict(), "force": False},
                    actor="chaos",
                )
            return cid
        except InputError as e:  # the commit of an earlier try went through
            if "already exists" not in str(e):
                raise
            return str(e).rsplit("id ", 1)[1].rstrip(")")
        except Exception as e:
            if time.monotonic() > deadline:
                raise
            log.info("submitting %s failed, trying again: %s", name, e)
            time.sleep(0.5)
