"""How long the broker has held its messages: a Redis broker restarted empty lost them.

Dramatiq's Redis broker keeps queued messages in Redis's memory; a restart without
persistence loses every message published before it. ``BrokerUptime.seconds`` reads the
server's ``uptime_in_seconds`` so that the sweeper can re-send, at once, what was dispatched
before the restart and never claimed, instead of waiting for the dispatch timeout. RabbitMQ
keeps Dramatiq's (durable, persistent) messages across a restart, and the in-process broker
cannot be asked from another process: both answer None.
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger("fileintel.sweeper")

#: A probe must never hold a sweep up for long: the sweep carries on without it.
PROBE_TIMEOUT_SECONDS = 1.0


class BrokerUptime:
    """Asks the broker at ``url`` how long ago it started; one client, reused."""

    def __init__(self, url: str):
        scheme = url.split("://", 1)[0]
        self._client: redis.Redis | None = None
        if scheme in ("redis", "rediss"):
            self._client = redis.Redis.from_url(
                url,
                socket_timeout=PROBE_TIMEOUT_SECONDS,
                socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
            )

    def seconds(self) -> float | None:
        """Seconds since the broker started; None when unknown (not Redis, or unreachable)."""
        if self._client is None:
            return None
        try:
            info = self._client.info("server")
        except redis.RedisError as e:
            log.debug("broker uptime unknown: %s", e)
            return None
        return float(info["uptime_in_seconds"])

    def close(self) -> None:
        """Drop the client's connections."""
        if self._client is not None:
            self._client.close()
