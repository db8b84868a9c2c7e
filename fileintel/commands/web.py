"""``fileintel web``: the read-only HTTP API and the live status pages."""

from __future__ import annotations

import click
import uvicorn

from fileintel.commands.common import AppContext, pass_app
from fileintel.logs import configure_logging
from fileintel.web.app import create_app
from fileintel.web.security import check_bind

#: Seconds open event streams get to finish when the server stops.
SHUTDOWN_GRACE_SECONDS = 2


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@pass_app
def web(app: AppContext, host: str, port: int) -> None:
    """Serve the JSON API, the live event stream and the status pages (read-only).

    Beyond 127.0.0.1 it needs FILEINTEL_WEB_TOKEN, which every request must then carry
    (``Authorization: Bearer TOKEN``, or basic auth with the token as password).
    """
    check_bind(host, app.settings.web_token)
    configure_logging(app.settings.log_format, app.settings.log_level, secrets=app.settings.secrets)
    application = create_app(app.settings, app.engine)
    click.echo(f"serving http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=app.settings.log_level,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        access_log=False,
    )
