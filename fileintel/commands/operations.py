"""Operations: ``scheduler``, ``sweep``, ``doctor``."""

from __future__ import annotations

import signal
import threading

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.doctor import run_checks
from fileintel.logs import configure_logging
from fileintel.metrics_server import serve
from fileintel.sweeper.scheduler import SweepScheduler
from fileintel.sweeper.sweep import Sweeper


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between sweeps (default FILEINTEL_SWEEP_INTERVAL_SECONDS).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Expose Prometheus metrics on this port.",
)
@pass_app
def scheduler(app: AppContext, interval: float | None, metrics_port: int | None) -> None:
    """Run the sweeper on a timer (one active scheduler at a time; others stand by)."""
    configure_logging(app.settings.log_format, app.settings.log_level, secrets=app.settings.secrets)
    engine = app.engine
    if metrics_port:
        serve(metrics_port, engine)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    SweepScheduler(app.settings, engine, interval=interval).run(stop)


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be done.")
@JSON_OPTION
@pass_app
def sweep(app: AppContext, dry_run: bool, as_json: bool) -> None:
    """Run one sweep pass now (the collection/run audit included) and print its decisions."""
    result = Sweeper(app.settings, app.engine).run_once(dry_run=dry_run, audit=True)
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "found": result.found,
                "decisions": dict(result.decisions),
                "errors": result.errors,
                "messages": result.messages,
                "held": result.held,
            }
        )
        return
    if result.held is not None:
        click.echo(f"held: unclaimed documents and unstarted runs not re-sent: {result.held}")
    if dry_run:
        for message in result.messages:
            click.echo(message)
        click.echo(f"{result.found} item(s) need attention (dry run: nothing changed)")
        return
    decided = ", ".join(f"{k} {v}" for k, v in sorted(result.decisions.items()))
    click.echo(
        f"sweep: {decided or 'nothing to do'}"
        + (f"; {result.errors} error(s), see the log" if result.errors else "")
    )


@click.command()
@JSON_OPTION
@pass_app
def doctor(app: AppContext, as_json: bool) -> int:
    """Check database, broker, events sink, relay, scheduler, workers and stuck collections."""
    checks = run_checks(app.settings)
    if as_json:
        print_json([c.as_dict() for c in checks])
    else:
        for c in checks:
            click.echo(f"{c.level:<4}  {c.name:<10} {c.message}")
    return 1 if any(c.level == "FAIL" for c in checks) else 0
