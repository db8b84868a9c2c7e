"""The pages in a real browser (Debian's chromium, driven by Playwright): a collection
processed from the CLI goes to its terminal status and a full progress bar without a
reload; a hostile name renders as text; the pages fit 375 px. Screenshots of each page
are kept under ``$FILEINTEL_TEST_ARTIFACTS/web`` (default ``build/test-artifacts/web``).

Skipped when no browser is installed, unless FILEINTEL_REQUIRE_SERVICES=1 (CI installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fileintel.db import make_engine, write_tx
from fileintel.store.collections import create_collection
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, deliver_outbox, settings_for
from tests.processes import cli, cli_env
from tests.services import REQUIRE_SERVICES
from tests.web.conftest import XSS_NAME, add_corpus
from tests.web.support import web_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FILEINTEL_TEST_ARTIFACTS", "build/test-artifacts")) / "web"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium from the system (never a downloaded one)."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"no browser at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[test]')"
    if missing:
        if REQUIRE_SERVICES:
            pytest.fail(f"FILEINTEL_REQUIRE_SERVICES=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_run_moves_the_page_live(
    browser: Any, sqlite_url: str, corpus: Corpus, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    engine = make_engine(sqlite_url)
    books = add_corpus(engine, "books", corpus)
    with write_tx(engine) as conn:
        xss = create_collection(conn, XSS_NAME, actor="test")
    with web_server(sqlite_url, tmp_path / "logs") as server:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(server.url)
        expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
        card = page.locator(f'[data-collection-id="{books}"]')
        expect(card.locator(".head [data-role=status]")).to_have_text("created")
        page.evaluate("window.notReloaded = true")

        assert cli(["collections", "process", "books"], cli_env(sqlite_url)).returncode == 0
        deliver_outbox(engine, DocumentWorker(settings_for(sqlite_url), engine))

        status = card.locator(".head [data-role=status]")
        expect(status).to_have_text("completed_with_errors", timeout=WAIT_MS)
        expect(card.locator("[data-role=progress]")).to_have_attribute(
            "aria-valuenow", "100", timeout=WAIT_MS
        )
        expect(card.locator("[data-count=failed] b")).to_have_text(str(len(corpus.bad)))
        assert page.evaluate("window.notReloaded") is True
        xss_card = page.locator(f'[data-collection-id="{xss}"] .name')
        expect(xss_card).to_have_text(XSS_NAME)
        assert dialogs == []
        shot(page, "collections")

        page.goto(f"{server.url}/collections/books")
        expect(page.locator("[data-role=history] li")).to_have_count(4)
        expect(page.locator("table.documents .error").first).to_be_visible()
        shot(page, "collection")
        page.locator("[data-role=run]").first.click()
        expect(page.locator(".summary .head [data-role=status]")).to_have_text(
            "completed_with_errors"
        )
        shot(page, "run")

        page.goto(f"{server.url}/collections/{xss}")
        expect(page.locator("h1.name")).to_have_text(XSS_NAME)
        assert dialogs == []

        narrow = browser.new_page(viewport={"width": 375, "height": 800})
        for path, name in (("/", "collections-375"), ("/collections/books", "collection-375")):
            narrow.goto(server.url + path)
            width = narrow.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} is {width} px wide at 375 px"
            shot(narrow, name)
    engine.dispose()
