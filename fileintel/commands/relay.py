"""``fileintel relay``: the outbox relay daemon."""

from __future__ import annotations

import gc
import signal
import threading
from typing import Any

import click

from fileintel.commands.common import AppContext, pass_app
from fileintel.logs import configure_logging
from fileintel.metrics_server import serve
from fileintel.outbox.relay import DEFAULT_BATCH_SIZE, build_relay
from fileintel.store.heartbeats import HeartbeatThread


@click.command()
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows claimed, published and marked per transaction.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between looks when not woken by a NOTIFY (default FILEINTEL_RELAY_POLL_SECONDS).",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 1000),
    default=None,
    help="Failed attempts after which a row is parked (default FILEINTEL_RELAY_MAX_ATTEMPTS, 10).",
)
@click.option("--once", is_flag=True, help="Run one pass, print its counts and exit.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Expose Prometheus metrics on this port.",
)
@pass_app
def relay(
    app: AppContext,
    batch_size: int,
    poll_interval: float | None,
    max_attempts: int | None,
    once: bool,
    metrics_port: int | None,
) -> None:
    """Publish committed outbox rows: broker messages and events.

    SIGTERM or SIGINT finishes the current batch, then exits 0.
    """
    configure_logging(app.settings.log_format, app.settings.log_level, secrets=app.settings.secrets)
    engine = app.engine
    worker = build_relay(
        app.settings,
        engine,
        batch_size=batch_size,
        poll_seconds=poll_interval,
        max_attempts=max_attempts,
    )
    if once:
        try:
            result = worker.run_once()
        finally:
            worker.close()
        click.echo(
            f"claimed {result.claimed}, published {result.published}, failed {result.failed}, "
            f"parked {result.parked}, held {result.held}, deferred {result.deferred}"
        )
        return
    if metrics_port:
        serve(metrics_port, engine)
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()
        worker.wake()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    # Everything imported so far lives as long as the process: keep it out of the
    # collector's full passes, which would otherwise stall a pass for milliseconds.
    gc.collect()
    gc.freeze()
    beat = HeartbeatThread(engine, "relay").start()
    try:
        worker.run_forever(stop)
    finally:
        beat.stop()
