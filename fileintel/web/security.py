"""Who may look, and what every response carries.

- ``check_bind``: a bind beyond the loopback interface needs ``FILEINTEL_WEB_TOKEN``.
- ``TokenGuard``: with a token, every request must carry it, as ``Authorization: Bearer
  TOKEN`` or as the password of basic auth (what a browser prompts for; any user name).
- Every response says: no framing, no sniffing, no referrer, scripts only from this server.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fileintel.errors import ConfigurationError

#: Headers of every response. No inline script (only style attributes: the bars' widths).
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; style-src-attr 'unsafe-inline'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """ConfigurationError when ``host`` is reachable from elsewhere and no token is set."""
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            f"binding to {host} lets other machines read your collections: set "
            "FILEINTEL_WEB_TOKEN to a secret that requests must carry, or bind to 127.0.0.1"
        )


def carries_token(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (bearer, or basic password)."""
    scheme, _, value = authorization.partition(" ")
    given = value.strip()
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(given, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """ASGI middleware: the token check (when a token is set) and the security headers."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None:
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            if not carries_token(authorization, self.token):
                await _unauthorized(send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {
            "error": "this server needs FILEINTEL_WEB_TOKEN: send it as a bearer token or as "
            "the basic auth password"
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Basic realm="fileintel", charset="UTF-8"'),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
