"""Human-readable output of the read-side views (JSON output prints the same data)."""

from __future__ import annotations

from typing import Any

import click


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"


def render_status(view: dict[str, Any]) -> None:
    """Print ``collections status`` for people."""
    docs = view["documents"]
    click.echo(f"{view['name']} ({view['id']})")
    click.echo(f"  status      {view['status']}: {view['status_description']}")
    click.echo(
        f"  for         {_duration(view['seconds_in_status'])} (since {view['status_updated_at']})"
    )
    if view["status_message"]:
        click.echo(f"  message     {view['status_message']}")
    if view["current_run_id"]:
        click.echo(
            f"  run         {view['current_run_id']} (attempt {view['attempt']}, "
            f"{view['run_status']})"
        )
    click.echo(
        f"  documents   {docs['total']} total: "
        + ", ".join(f"{k} {v}" for k, v in docs.items() if k != "total")
    )
    click.echo(f"  chunks      {view['chunks']} ({view['embedding_coverage']:.1f}% embedded)")
    for w in view["warnings"]:
        click.echo(f"  WARNING     [{w['code']}] {w['message']}")


def render_collection_list(rows: list[dict[str, Any]]) -> None:
    """Print ``collections list`` as an aligned table."""
    if not rows:
        click.echo("no collections")
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        docs = r["documents"]
        flag = f"  ! {len(r['warnings'])} warning(s)" if r["warnings"] else ""
        click.echo(
            f"{r['name']:<{width}}  {r['status']:<22} {docs['total']:>6} docs  "
            f"{r['status_updated_at']}  {r['id']}{flag}"
        )


def render_history(rows: list[dict[str, Any]]) -> None:
    """Print ``collections history`` one transition per line."""
    for r in rows:
        run = f" run {r['run_id']}" if r["run_id"] else ""
        message = f": {r['message']}" if r["message"] else ""
        click.echo(
            f"{r['seq']:>4}  {r['at']}  {r['from'] or '-':>21} -> {r['to']:<21} "
            f"by {r['actor']}{run}{message}"
        )


def render_explain(explain: dict[str, Any]) -> None:
    """Print the ``--explain`` part of ``collections status``."""
    click.echo("  last transitions:")
    for r in explain["last_transitions"]:
        click.echo(
            f"    {r['seq']:>3} {r['at']}  {r['from'] or '-'} -> {r['to']} "
            f"by {r['actor']}" + (f": {r['message']}" if r["message"] else "")
        )
    if explain["notes"]:
        click.echo("  recovery notes:")
        for n in explain["notes"]:
            click.echo(f"    {n['at']}  {n['decision']}: {n['message']}")
    if explain["leases"]:
        click.echo("  documents in progress (lease left, attempt):")
        for lease in explain["leases"]:
            left = lease["lease_seconds_left"]
            state = f"{left:.0f} s left" if left >= 0 else f"EXPIRED {-left:.0f} s ago"
            click.echo(
                f"    {lease['document_id']:>7}  {state:<20} attempt {lease['attempt']}  "
                f"{lease['path']}"
            )
    if explain["queue_position"] is not None:
        click.echo(f"  queue position: {explain['queue_position']}")
    click.echo("  allowed next: " + ", ".join(explain["allowed_next"]))
