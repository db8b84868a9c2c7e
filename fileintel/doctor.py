"""``fileintel doctor``: each part of a deployment, checked, one line each (OK/WARN/FAIL).

URLs are shown through ``mask_url`` and drivers' messages through ``redact``: a check's
message is printed as it is, in text and in ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from fileintel.backends import backend_for_url
from fileintel.backends.diagnosis import diagnose
from fileintel.config import Settings, mask_url, redact
from fileintel.db import get_engine, missing_database, read_tx
from fileintel.store.status import list_collections


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    level: str  # OK | WARN | FAIL
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"name": self.name, "level": self.level, "message": self.message}


def _first_line(error: BaseException, settings: Settings) -> str:
    found = diagnose(error)
    if found is not None:
        return found.message
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return redact(lines[0], settings) if lines else type(error).__name__


def _database(settings: Settings) -> tuple[Check, Engine | None]:
    from fileintel import migrate

    where = mask_url(settings.database_url)
    missing = missing_database(settings.database_url)
    if missing is not None:
        return Check("database", "FAIL", missing), None
    engine = get_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
    except Exception as e:
        return Check("database", "FAIL", f"{where} unreachable: {_first_line(e, settings)}"), None
    head = migrate.head_revision()
    if current != head:
        return Check(
            "database",
            "FAIL",
            f"{where} at {current or 'no revision'}, expected {head}: run 'fileintel db upgrade'",
        ), None
    try:
        with read_tx(engine) as conn:
            problems = backend_for_url(settings.database_url).integrity_problems(conn)
    except Exception as e:
        problems = [_first_line(e, settings)]
    if problems:
        flat = [" ".join(line.split()) for p in problems for line in p.splitlines()]
        flat = [line for line in flat if line and not line.startswith("***")]
        shown = "; ".join(flat[:2]) + (f" (+{len(flat) - 2} more)" if len(flat) > 2 else "")
        return Check(
            "database",
            "FAIL",
            f"{where} is damaged: {shown}; stop FileIntel and restore it from a backup "
            "(sqlite3 .recover can salvage what is readable)",
        ), None
    return Check("database", "OK", f"{where} reachable, schema at {head}, structure intact"), engine


def _broker(settings: Settings) -> Check:
    url = settings.broker_url
    where = mask_url(url)
    if settings.is_embedded_broker:
        return Check("broker", "OK", "stub:// (in-process; workers run inside 'fileintel run')")
    try:
        if url.startswith("redis"):
            import redis

            redis.Redis.from_url(url, socket_timeout=3).ping()
        else:
            import pika

            pika.BlockingConnection(pika.URLParameters(url)).close()
    except Exception as e:
        return Check("broker", "FAIL", f"{where} unreachable: {_first_line(e, settings)}")
    return Check("broker", "OK", f"{where} reachable")


def _events(settings: Settings) -> Check:
    if not settings.events_url:
        return Check("events", "OK", "no events sink configured (events stay in the database)")
    import redis

    where = mask_url(settings.events_url)
    try:
        redis.Redis.from_url(settings.events_url, socket_timeout=3).ping()
    except Exception as e:
        return Check("events", "FAIL", f"{where} unreachable: {_first_line(e, settings)}")
    return Check("events", "OK", f"{where} reachable, stream {settings.events_stream}")


def _with_db(engine: Engine, settings: Settings) -> list[Check]:
    from fileintel.store.liveness import OUTBOX_LAG_WARNING_SECONDS, gather
    from fileintel.sweeper.leader import lock_holder_exists

    with read_tx(engine) as conn:
        facts = gather(conn)
        stuck = len(list_collections(conn, stuck=True))  # what 'list --stuck' shows
    checks = []
    if facts.storage is not None:
        checks.append(Check("disk", "FAIL", f"{facts.storage}; free space"))
    lag = facts.outbox.lag_seconds
    relay_level = "OK" if (lag or 0) <= OUTBOX_LAG_WARNING_SECONDS else "WARN"
    checks.append(
        Check(
            "relay",
            relay_level,
            f"{facts.relays_seen} relay(s) seen; backlog {facts.outbox.backlog}, "
            f"waiting {lag or 0:.0f} s, parked {facts.outbox.parked}",
        )
    )
    embedded = settings.is_embedded_broker
    holder = lock_holder_exists(engine)
    if holder is None:
        holder = facts.schedulers_seen > 0
    start_scheduler = "start 'fileintel run'" if embedded else "start 'fileintel scheduler'"
    checks.append(
        Check(
            "scheduler",
            "OK" if holder else "WARN",
            "a scheduler holds the sweep lock"
            if holder
            else f"no scheduler holds the sweep lock: {start_scheduler}",
        )
    )
    seen = f"{facts.workers_seen} worker process(es) seen in the last minute"
    if not facts.workers_seen:
        seen += (
            ": start 'fileintel run' (the embedded mode's workers)"
            if embedded
            else ": start 'fileintel worker' (or 'honcho start')"
        )
    checks.append(Check("workers", "OK" if facts.workers_seen else "WARN", seen))
    checks.append(
        Check(
            "stuck",
            "OK" if stuck == 0 else "WARN",
            f"{stuck} collection(s) with warnings"
            + ("; see 'fileintel collections list --stuck'" if stuck else ""),
        )
    )
    return checks


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; database-dependent ones only when the database is usable."""
    db_check, engine = _database(settings)
    checks = [db_check]
    simple: list[Callable[[Settings], Check]] = [_broker, _events]
    checks += [f(settings) for f in simple]
    if engine is not None:
        checks += _with_db(engine, settings)
    return checks
