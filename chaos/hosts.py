"""Hosts: a network namespace each, joined to the machine by a veth pair.

A process started with ``Host.command`` sees only its link: it reaches PostgreSQL and
Redis at ``server_address`` as a separate machine would. ``cut`` takes the link down (every
packet is lost, connections hang as in a partition; nothing is reset), ``heal`` brings it
back. ``slow`` delays the link both ways: ``netem delay`` where the kernel has it, else a
token bucket (``tbf``) at a low rate, whose queue delays every packet behind the ones
before it; ``unslow`` removes either.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from chaos.naming import HostNames

#: The slow link: netem's added delay, or tbf's rate and the longest a packet may queue.
SLOW_DELAY = "400ms"
SLOW_RATE, SLOW_QUEUE = "512kbit", "3s"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def tc(*args: str) -> bool:
    """Run ``tc``; whether it succeeded."""
    return subprocess.run(["tc", *args], capture_output=True, text=True).returncode == 0


@dataclass
class Host:
    """Host ``names.n``; ``cut``/``slow`` say what is done to its link now."""

    names: HostNames
    cut_now: bool = False
    slow_now: str | None = None
    processes: list[str] = field(default_factory=list)

    def create(self) -> None:
        n = self.names
        ip("netns", "add", n.namespace)
        ip("link", "add", n.outer_link, "type", "veth", "peer", "name", n.inner_link)
        ip("link", "set", n.inner_link, "netns", n.namespace)
        ip("addr", "add", f"{n.server_address}/30", "dev", n.outer_link)
        ip("link", "set", n.outer_link, "up")
        inside = ("netns", "exec", n.namespace, "ip")
        ip(*inside, "addr", "add", f"{n.address}/30", "dev", n.inner_link)
        ip(*inside, "link", "set", n.inner_link, "up")
        ip(*inside, "link", "set", "lo", "up")

    def destroy(self) -> None:
        subprocess.run(["ip", "link", "delete", self.names.outer_link], capture_output=True)
        subprocess.run(["ip", "netns", "delete", self.names.namespace], capture_output=True)

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host."""
        return ["ip", "netns", "exec", self.names.namespace, *argv]

    def cut(self) -> None:
        ip("link", "set", self.names.outer_link, "down")
        self.cut_now = True

    def heal(self) -> None:
        ip("link", "set", self.names.outer_link, "up")
        self.cut_now = False

    def _both_ends(self) -> list[list[str]]:
        n = self.names
        return [["dev", n.outer_link], ["-n", n.namespace, "dev", n.inner_link]]

    def slow(self) -> str:
        """Slow the link both ways; return how."""
        for end in self._both_ends():
            ns, dev = end[:-2], end[-2:]
            if tc(*ns, "qdisc", "add", *dev, "root", "netem", "delay", SLOW_DELAY):
                self.slow_now = f"netem delay {SLOW_DELAY}"
            else:
                tc(
                    *ns,
                    "qdisc",
                    "add",
                    *dev,
                    "root",
                    "tbf",
                    "rate",
                    SLOW_RATE,
                    "burst",
                    "4kb",
                    "latency",
                    SLOW_QUEUE,
                )
                self.slow_now = f"tbf rate {SLOW_RATE}, up to {SLOW_QUEUE} queued"
        return self.slow_now or "unchanged"

    def unslow(self) -> None:
        for end in self._both_ends():
            ns, dev = end[:-2], end[-2:]
            tc(*ns, "qdisc", "del", *dev, "root")
        self.slow_now = None
