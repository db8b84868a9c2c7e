"""Every error FileIntel raises on purpose, in one small tree.

``FileIntelError`` is the root: the CLI turns any of them into one line on stderr and exit
code 1. Driver errors (SQLAlchemy, redis, pika) are translated at the boundary where they
happen, with ``raise ... from e``, so callers never have to know which driver was used.

Control flow is kept apart from failures: ``StateError`` subclasses say "the world is not
in the state you assumed", which for a worker means "drop this message, someone else owns
the work", not "retry".
"""

from __future__ import annotations


class FileIntelError(Exception):
    """Base class of every error FileIntel raises on purpose."""


class ConfigurationError(FileIntelError):
    """Raised when an environment variable or option is missing or malformed."""


class DatabaseError(FileIntelError):
    """Raised when the database cannot be reached or is not migrated to the expected head."""


class DatabaseUnusable(DatabaseError):
    """Raised when the database refuses every write until someone acts (its disk is full,
    it is damaged): not any document's failure, so retrying one cannot help."""


class BrokerError(FileIntelError):
    """Raised when the message broker or the events sink cannot be reached."""


class NotFound(FileIntelError):
    """Raised when a collection, run or document named by the user does not exist."""


class InputError(FileIntelError):
    """Raised when user input (paths, names, options) cannot be used as given."""


class EmbeddedBusy(InputError):
    """Raised when the embedded mode already runs on this database in another process."""


# --- state errors: a guarded write changed nothing ------------------------------------


class StateError(FileIntelError):
    """Raised when a guarded state write matched no row; nothing was written."""


class InvalidTransition(StateError):
    """Raised when the state machine does not allow the requested move from the found state."""

    def __init__(self, collection_id: str, found: str, target: str, allowed_from: list[str]):
        self.collection_id = collection_id
        self.found = found
        self.target = target
        self.allowed_from = allowed_from
        super().__init__(
            f"collection {collection_id} is '{found}'; it cannot move to '{target}' "
            f"(only from: {', '.join(allowed_from) or 'nowhere'})"
        )


class ConcurrentUpdate(StateError):
    """Raised when another transaction changed the collection after it was read (version)."""

    def __init__(self, collection_id: str, expected_version: int, found_version: int):
        self.collection_id = collection_id
        self.expected_version = expected_version
        self.found_version = found_version
        super().__init__(
            f"collection {collection_id} was changed concurrently "
            f"(expected version {expected_version}, found {found_version}); read it again"
        )


class StaleRun(StateError):
    """Raised when a write comes from a run (or document attempt) that has been superseded."""

    def __init__(self, subject: str, run_id: str, reason: str):
        self.subject = subject
        self.run_id = run_id
        self.reason = reason
        super().__init__(f"{subject}: run {run_id} is stale ({reason}); its write was discarded")


class AlreadyProcessing(StateError):
    """Raised when processing is requested for a collection that is already queued or running."""

    def __init__(self, collection_id: str, name: str, status: str, run_id: str | None):
        self.collection_id = collection_id
        self.status = status
        self.run_id = run_id
        super().__init__(
            f"collection '{name}' is already {status} (run {run_id}); wait for it to finish, "
            f"or cancel it with 'fileintel collections cancel {name}'"
        )


# --- document processing ----------------------------------------------------------------


class DocumentError(FileIntelError):
    """Raised when a document cannot be processed and retrying would not help.

    ``reason`` is a sentence a person understands ("PDF is encrypted", "file is empty").
    """

    def __init__(self, reason: str, path: str | None = None):
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)
