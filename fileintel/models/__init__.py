"""Tables, states and the transition function."""

from fileintel.models.base import Base
from fileintel.models.states import (
    CollectionStatus,
    DocumentState,
    RunStatus,
    allowed_sources,
    is_allowed,
)
from fileintel.models.tables import (
    Chunk,
    Collection,
    Document,
    OutboxMessage,
    ProcessHeartbeat,
    Run,
    RunNote,
    StatusEvent,
    chunks_t,
    collections_t,
    documents_t,
    outbox_t,
    process_heartbeats_t,
    run_notes_t,
    runs_t,
    status_events_t,
)

__all__ = [
    "Base",
    "Chunk",
    "Collection",
    "CollectionStatus",
    "Document",
    "DocumentState",
    "OutboxMessage",
    "ProcessHeartbeat",
    "Run",
    "RunNote",
    "RunStatus",
    "StatusEvent",
    "allowed_sources",
    "chunks_t",
    "collections_t",
    "documents_t",
    "is_allowed",
    "outbox_t",
    "process_heartbeats_t",
    "run_notes_t",
    "runs_t",
    "status_events_t",
]
