"""Fixtures of the processing suite: one generated corpus per session, a worker per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from fileintel.config import Settings
from fileintel.workers.actors import DocumentWorker
from tests.processing.support import Corpus, make_mixed_corpus, settings_for


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The mixed ten-document corpus (read-only: tests never change these files)."""
    return make_mixed_corpus(tmp_path_factory.mktemp("corpus") / "docs")


@pytest.fixture
def settings(db_url: str) -> Settings:
    """In-process settings on this test's database."""
    return settings_for(db_url)


@pytest.fixture
def worker(settings: Settings, engine: Engine) -> DocumentWorker:
    """The actors' work, bound to this test's engine."""
    return DocumentWorker(settings, engine)


@pytest.fixture
def docs_dir(corpus: Corpus) -> Path:
    """The corpus folder."""
    return corpus.root
