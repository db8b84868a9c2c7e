"""``fileintel relay``: the outbox relay daemon."""

from __future__ import annotations

import signal
import threading

import click

from fileintel.commands.common import AppContext, pass_app
from fileintel.logs import configure_logging


@click.command()
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between polls when not woken (default FILEINTEL_RELAY_POLL_SECONDS).",
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
    once: bool,
    metrics_port: int | None,
) -> None:
    """Publish committed outbox rows: broker messages and events (SIGTERM finishes the batch)."""
    from fileintel.heartbeats import HeartbeatThread
    from fileintel.outbox.relay import build_relay

    configure_logging(app.settings.log_format)
    engine = app.engine
    worker = build_relay(app.settings, engine, batch_size=batch_size, poll_seconds=poll_interval)
    if once:
        result = worker.run_once()
        click.echo(
            f"claimed {result.claimed}, published {result.published}, failed "
            f"{result.failed}, parked {result.parked}, deferred {result.deferred}"
        )
        return
    if metrics_port:
        from fileintel.metrics import serve

        serve(metrics_port, engine)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    beat = HeartbeatThread(engine, "relay").start()
    try:
        worker.run_forever(stop)
    finally:
        beat.stop()


COMMANDS: list[click.Command] = [relay]
