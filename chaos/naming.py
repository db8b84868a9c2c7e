"""The names and addresses of everything a chaos run creates.

Every namespace, link and temporary folder starts with ``PREFIX`` and carries the pid of
the run that made it, so a later run can tell its own leftovers from a live run's.
Addresses come from ``SUBNET``, used only on the suite's own veth links: host ``n`` is
``10.213.n.2`` inside its namespace and reaches the servers at ``10.213.n.1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PREFIX = "fichaos"
#: Link names are limited to 15 characters: "fic" + pid + "h" + host number.
LINK_PREFIX = "fic"
SUBNET = "10.213"


@dataclass(frozen=True)
class HostNames:
    """The names and addresses of host ``n`` of run ``pid``."""

    pid: int
    n: int

    @property
    def namespace(self) -> str:
        return f"{PREFIX}-{self.pid}-h{self.n}"

    @property
    def outer_link(self) -> str:
        return f"{LINK_PREFIX}{self.pid}h{self.n}"

    @property
    def inner_link(self) -> str:
        return f"{LINK_PREFIX}{self.pid}i{self.n}"

    @property
    def server_address(self) -> str:
        """Where the servers listen for this host (the outer end of its link)."""
        return f"{SUBNET}.{self.n}.1"

    @property
    def address(self) -> str:
        return f"{SUBNET}.{self.n}.2"


def owner_pid(name: str) -> int | None:
    """The pid of the run that made a resource named ``name`` (None: not ours)."""
    for prefix in (f"{PREFIX}-", LINK_PREFIX):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
            return int(digits) if digits else None
    return None


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead and not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
