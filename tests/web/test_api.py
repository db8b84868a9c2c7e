"""The JSON API on both backends: every route is the CLI's ``--json`` for the same data,
lists are paged, and errors are one-line JSON with the right status."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.processes import cli, cli_env, cli_json
from tests.web.conftest import XSS_NAME

#: Seconds since a change, computed at the moment of the call: allowed to differ.
MOVING = ("seconds_in_status",)


def same_data(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert {k: v for k, v in a.items() if k not in MOVING} == {
        k: v for k, v in b.items() if k not in MOVING
    }


def test_every_route_answers_what_the_cli_prints(
    client: TestClient, processed: dict[str, str], db_url: str
) -> None:
    env = cli_env(db_url)
    listed = client.get("/api/collections")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert listed.json() == cli_json(["collections", "list"], env)
    for name in ("books", processed["books"], XSS_NAME):
        status = client.get(f"/api/collections/{name}").json()
        same_data(status, cli_json(["collections", "status", name], env))
    for suffix, args in (
        ("history", ["collections", "history", "books"]),
        ("documents", ["collections", "documents", "books"]),
    ):
        assert client.get(f"/api/collections/books/{suffix}").json() == cli_json(args, env)
    explained = cli_json(["collections", "status", "books", "--explain"], env)["explain"]
    assert client.get("/api/collections/books/explain").json() == explained
    run = processed["run_id"]
    assert client.get(f"/api/runs/{run}").json() == cli_json(["runs", "show", run], env)
    outbox = client.get("/api/outbox").json()
    assert outbox.keys() == cli_json(["outbox", "status"], env).keys()
    assert outbox["backlog"] > 0  # nothing relays in this test: the events are waiting


def test_filters_match_the_cli(client: TestClient, processed: dict[str, str], db_url: str) -> None:
    env = cli_env(db_url)
    created = client.get("/api/collections?status=created").json()
    assert [r["name"] for r in created] == [XSS_NAME]
    assert created == cli_json(["collections", "list", "--status", "created"], env)
    failed = client.get("/api/collections/books/documents?state=failed").json()
    assert failed and all(d["state"] == "failed" and d["error"] for d in failed)
    assert failed == cli_json(["collections", "documents", "books", "--state", "failed"], env)
    # The backlog of unpublished events makes no collection stuck yet.
    assert client.get("/api/collections?stuck=true").json() == []


def test_lists_are_paged_with_a_link_to_the_next_page(
    client: TestClient, processed: dict[str, str]
) -> None:
    everything = client.get("/api/collections/books/documents").json()
    assert len(everything) == 10
    seen: list[Any] = []
    url: str | None = "/api/collections/books/documents?limit=3"
    pages = 0
    while url:
        response = client.get(url)
        seen += response.json()
        pages += 1
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    assert seen == everything and pages == 4  # 3 + 3 + 3 + 1, the last page has no Link
    collections = client.get("/api/collections").json()
    first = client.get("/api/collections?limit=1")
    assert first.json() == collections[:1]
    rest = client.get(first.headers["link"][1 : first.headers["link"].index(">")]).json()
    assert rest == collections[1:] and len(rest) == 1


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/api/collections/nope", 404, "no collection named or with id 'nope'"),
        ("/api/collections/nope/history", 404, "'nope'"),
        ("/api/collections/nope/documents", 404, "'nope'"),
        ("/api/collections/nope/explain", 404, "'nope'"),
        ("/api/runs/not-a-run", 404, "not-a-run"),
        ("/api/nothing-here", 404, "Not Found"),
        ("/api/collections?status=done", 400, "unknown status 'done'"),
        ("/api/collections?stuck=maybe", 400, "stuck must be true or false"),
        ("/api/collections?limit=0", 400, "limit must be a whole number from 1 to 1000"),
        ("/api/collections/books/documents?state=lost", 400, "unknown document state 'lost'"),
        ("/api/collections/books/documents?after=x", 400, "after must be a document id"),
        ("/api/events?after=-1", 400, "after must be an event id"),
    ],
)
def test_errors_are_one_json_line(
    client: TestClient, processed: dict[str, str], path: str, status: int, fragment: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"] and fragment in body["error"]
    assert "\n" not in body["error"] and "Traceback" not in response.text


def test_no_route_changes_data(client: TestClient, processed: dict[str, str], db_url: str) -> None:
    before = cli(["collections", "history", "books", "--json"], cli_env(db_url)).stdout
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/collections", "/api/collections/books", "/api/runs/x", "/"):
            response = client.request(method, path)
            assert response.status_code == 405, (method, path)
    assert cli(["collections", "history", "books", "--json"], cli_env(db_url)).stdout == before
