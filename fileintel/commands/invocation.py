"""What the ``fileintel`` group hands its commands, and the exit codes they return.

Kept free of database and broker imports: the group imports it before it knows which
command runs, and ``fileintel --help`` must answer without SQLAlchemy. The commands turn
these options into an ``AppContext`` (``fileintel.commands.common``) on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from fileintel.config import Settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_COMPLETED_WITH_ERRORS = 3


@dataclass(frozen=True)
class GlobalOptions:
    """The settings and flags of one invocation, after the global options were applied."""

    settings: Settings
    debug: bool = False
