"""Names shared by whoever sends and whoever consumes messages: queues and actors.

Runs start on their own queue so a long document backlog never delays the start (and so
the "processing" status) of another collection's run.
"""

from __future__ import annotations

RUNS_QUEUE = "fileintel-runs"
DOCUMENTS_QUEUE = "fileintel-documents"

START_RUN_ACTOR = "start_run"
PROCESS_DOCUMENT_ACTOR = "process_document"
