"""Dramatiq workers: the broker factory, the actors, and the entry point.

``dramatiq fileintel.workers`` (what ``fileintel worker`` runs) loads this package; run that
way, it sets up the broker from the environment and declares the actors on it (see
``fileintel.workers.entry``, also loadable directly as ``dramatiq fileintel.workers.entry``).
Imported by anything else, the package does nothing on import: FileIntel's own processes
build their broker explicitly, and there is no implicit default broker.
"""

from __future__ import annotations

import os
import sys

#: The interpreter's thread switch interval in a worker process, in seconds. Longer than
#: Python's 5 ms so the pipeline thread is not preempted each time a consumer thread wakes
#: to poll the broker; a consumer gets the GIL at the worker's next database round trip
#: (measured: docs/performance.md, "Processing throughput"). Set by ``entry`` and by the
#: embedded mode's worker processes (``fileintel.embedded.child``).
SWITCH_INTERVAL_SECONDS = 0.05

if os.path.basename(sys.argv[0]).startswith("dramatiq"):
    from fileintel.workers import entry as entry
