"""The token rule, escaping, and no credentials in any answer."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from fileintel.web.app import create_app
from tests.corpus import settings_for
from tests.processes import cli_env, run_cli
from tests.web.conftest import XSS_NAME

TOKEN = "s3cret-web-token"


@pytest.fixture
def guarded(db_url: str, engine: Engine) -> Iterator[TestClient]:
    """The application with FILEINTEL_WEB_TOKEN set."""
    settings = settings_for(db_url, web_token=TOKEN)
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_bind_beyond_loopback_needs_a_token(sqlite_url: str) -> None:
    done = run_cli(["web", "--host", "0.0.0.0", "--port", "1"], cli_env(sqlite_url))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "FILEINTEL_WEB_TOKEN" in lines[0] and "0.0.0.0" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("path", ["/", "/api/collections", "/api/events", "/static/app.js"])
def test_with_a_token_every_request_must_carry_it(guarded: TestClient, path: str) -> None:
    refused = guarded.get(path)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert "FILEINTEL_WEB_TOKEN" in refused.json()["error"] and TOKEN not in refused.text
    for wrong in ("Bearer nope", basic("admin", "nope"), f"Token {TOKEN}", "Basic !!"):
        assert guarded.get(path, headers={"Authorization": wrong}).status_code == 401


def test_bearer_or_basic_password_opens_the_door(guarded: TestClient) -> None:
    for header in (f"Bearer {TOKEN}", basic("anyone", TOKEN)):
        response = guarded.get("/api/collections", headers={"Authorization": header})
        assert response.status_code == 200 and response.json() == []


def test_user_strings_are_escaped(client: TestClient, processed: dict[str, str]) -> None:
    for path in ("/", f"/collections/{processed['xss']}", "/collections/books"):
        page = client.get(path)
        assert page.status_code == 200
        assert XSS_NAME not in page.text
        assert "content-security-policy" in page.headers
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/").text
    missing = client.get("/collections/<b>x</b>")
    assert missing.status_code == 404 and "<b>x</b>" not in missing.text


def test_no_password_in_any_answer(pg_url: str, engine: Engine) -> None:
    # The local server trusts every client, so a password in the URL is accepted and ignored.
    password = "pw-must-not-show"
    with_password = pg_url.replace("postgres@", f"postgres:{password}@", 1)
    assert password in with_password
    app = create_app(settings_for(with_password), engine)
    with TestClient(app) as client:
        for path in ("/api/health", "/api/outbox", "/api/collections", "/", "/api/x"):
            response = client.get(path)
            assert password not in response.text, path
        assert "***" in client.get("/api/health").text
