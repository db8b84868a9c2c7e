"""The actors: thin wrappers that call named database operations and the pipeline.

``start_run`` moves a run to processing and fans out one ``process_document`` message per
document through the outbox. ``process_document`` claims a document under a lease, runs the
pipeline while a heartbeat keeps the lease, and commits the outcome; the last document
closes the run in that same transaction. No chord, no callback, no result backend.

Failure handling:
- ``DocumentError`` (empty, corrupt, unsupported ...) marks the document failed at once.
- ``StateError`` (the run was cancelled or superseded, the attempt re-dispatched) means the
  work belongs to someone else now: the message is dropped, nothing is written.
- Anything else is transient: the claim is given back and Dramatiq retries with backoff;
  when the retries are used up the document is marked failed with the last error.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from sqlalchemy import Engine

from fileintel.config import Settings, redact
from fileintel.db import get_engine, write_tx
from fileintel.errors import DatabaseUnusable, DocumentError, NotFound, StateError
from fileintel.messaging import (
    DOCUMENTS_QUEUE,
    PROCESS_DOCUMENT_ACTOR,
    RUNS_QUEUE,
    START_RUN_ACTOR,
)
from fileintel.messaging.broker import MAX_RETRIES
from fileintel.metrics import DOCUMENT_SECONDS
from fileintel.pipeline import Limits, PipelineOptions, ProcessedDocument, process_file
from fileintel.pipeline.embedding import Embedder, get_embedder
from fileintel.store.document_work import (
    Claim,
    commit_outcome,
    release_claim,
    take_document,
)
from fileintel.store.lifecycle import begin_run
from fileintel.store.reembed import reembed_document
from fileintel.workers.leases import LeaseKeeper

log = logging.getLogger("fileintel.worker")


def pipeline_options(options: dict[str, Any]) -> PipelineOptions:
    """The pipeline options stored with a run (unknown keys such as ``force`` ignored)."""
    fields = PipelineOptions.__dataclass_fields__
    return PipelineOptions(**{k: v for k, v in options.items() if k in fields})


class DocumentWorker:
    """The work behind the actors, bound to one process's settings and engine."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self._engine = engine
        self._embedders: dict[str, Embedder] = {}
        self.limits = Limits.of(settings)
        self._leases: LeaseKeeper | None = None

    @property
    def engine(self) -> Engine:
        """The database engine, opened on first use."""
        if self._engine is None:
            self._engine = get_engine(self.settings.database_url)
        return self._engine

    @property
    def leases(self) -> LeaseKeeper:
        """The process's lease keeper, created on first use."""
        if self._leases is None:
            self._leases = LeaseKeeper(
                self.engine, self.settings.lease_seconds, self.settings.heartbeat_seconds
            )
        return self._leases

    def close(self) -> None:
        """Stop renewing leases (the process stops working)."""
        if self._leases is not None:
            self._leases.close()

    def embedder(self, options: dict[str, Any]) -> Embedder:
        """The run's embedder (its ``embedder`` option; runs requested before there was one
        use the configured one), created on first use (models can be slow to load)."""
        name = str(options.get("embedder") or self.settings.embedder)
        if name not in self._embedders:
            self._embedders[name] = get_embedder(name)
        return self._embedders[name]

    def start_run(self, run_id: str) -> None:
        """Move a queued run to processing and dispatch its documents."""
        try:
            with write_tx(self.engine) as conn:
                started = begin_run(conn, run_id)
        except (StateError, NotFound) as e:  # superseded, or another deployment's message
            log.info("start of run %s dropped: %s", run_id, e)
            return
        except DatabaseUnusable as e:  # the sweeper re-sends the start once writes work
            log.error("start of run %s put off: %s", run_id, e)
            return
        log.info(
            "run %s started: %d documents dispatched, %d unchanged and skipped",
            run_id,
            started.dispatched,
            started.skipped,
        )

    def process_document(self, run_id: str, document_id: int, attempt: int) -> None:
        """Claim, process and commit one document of a run."""
        try:
            claim = take_document(
                self.engine, run_id, document_id, attempt, self.settings.lease_seconds
            )
        except StateError as e:
            log.info("document %s of run %s dropped: %s", document_id, run_id, e)
            return
        except DatabaseUnusable as e:  # still pending and dispatched: the sweeper re-sends it
            log.error("document %s of run %s put off: %s", document_id, run_id, e)
            return
        started = time.monotonic()
        result: ProcessedDocument | None = None
        error: str | None = None
        try:
            with self.leases.holding(claim):
                embedder = self.embedder(claim.options)
                if claim.options.get("reembed"):  # the stored chunks, if it has any
                    result = reembed_document(self.engine, claim.document_id, embedder)
                if result is None:
                    result = process_file(
                        Path(claim.path),
                        pipeline_options(claim.options),
                        embedder,
                        media_type=claim.media_type,
                        sha256=claim.sha256,
                        limits=self.limits,
                    )
        except DocumentError as e:
            error = e.reason
        except Exception as e:
            self._transient(claim, e)
            return
        DOCUMENT_SECONDS.labels("done" if error is None else "failed").observe(
            time.monotonic() - started
        )
        try:
            self._finish(claim, result, error)
        except DatabaseUnusable as e:
            # Not this document's failure, and no retry can help until someone acts: the
            # claim stays under its lease, and the sweeper re-sends it after the lease
            # expires, once writes work again (one lost-lease attempt, no traceback flood).
            log.error("document %s of run %s put off: %s", claim.document_id, claim.run_id, e)
        except Exception as e:  # e.g. the database went away while committing
            self._transient(claim, e)

    def _transient(self, claim: Claim, error: Exception) -> None:
        """A failure that may pass: give the claim back and let Dramatiq retry the message;
        once the retries are used up, record the document as failed instead."""
        retries = _current_retries()
        if retries >= MAX_RETRIES:
            # Kept on the document and shown by later commands: never with a password.
            reason = redact(f"gave up after {retries + 1} tries: {error}", self.settings)
            self._finish(claim, None, reason)
            return
        log.warning(
            "document %s of run %s failed (try %d), will retry: %s",
            claim.document_id,
            claim.run_id,
            retries + 1,
            error,
        )
        self._give_back(claim)
        raise error

    def _finish(self, claim: Claim, result: Any, error: str | None) -> None:
        try:
            finished = commit_outcome(self.engine, claim, result, error)
        except StateError as e:
            log.info(
                "result of document %s of run %s discarded: %s", claim.document_id, claim.run_id, e
            )
            return
        if error is None:  # one line per document only at FILEINTEL_LOG_LEVEL=debug
            log.debug(
                "document %s of run %s %s", claim.document_id, claim.run_id, finished.state.value
            )
        else:
            log.info(
                "document %s of run %s %s: %s",
                claim.document_id,
                claim.run_id,
                finished.state.value,
                error,
            )
        if finished.run_finished is not None:
            log.info(
                "run %s finished: collection %s is %s",
                claim.run_id,
                claim.collection_name,
                finished.run_finished.to_status.value,
            )

    def _give_back(self, claim: Claim) -> None:
        try:
            with write_tx(self.engine) as conn:
                release_claim(conn, claim)
        except StateError as e:
            log.info("document %s of run %s no longer ours: %s", claim.document_id, claim.run_id, e)


def _current_retries() -> int:
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) if message is not None else 0


def register_actors(
    broker: dramatiq.Broker, worker: DocumentWorker
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Declare FileIntel's actors on ``broker``, bound to ``worker``."""

    def start_run(run_id: str) -> None:
        worker.start_run(run_id)

    def process_document(run_id: str, document_id: int, attempt: int) -> None:
        worker.process_document(run_id, document_id, attempt)

    return {
        START_RUN_ACTOR: dramatiq.Actor(
            start_run,
            broker=broker,
            actor_name=START_RUN_ACTOR,
            queue_name=RUNS_QUEUE,
            priority=0,
            options={},
        ),
        PROCESS_DOCUMENT_ACTOR: dramatiq.Actor(
            process_document,
            broker=broker,
            actor_name=PROCESS_DOCUMENT_ACTOR,
            queue_name=DOCUMENTS_QUEUE,
            priority=10,
            options={},
        ),
    }
