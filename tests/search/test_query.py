"""``search``: modes, filters, context, highlighting, and the collection's own model."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from fileintel.errors import InputError
from fileintel.search.query import snippet_around
from fileintel.workers.actors import DocumentWorker
from tests.search.support import ask, folder_of, processed

DOCS = {
    "refunds.md": "Refund policy. Members who paid for a lost item and later find it may "
    "return it within ninety days and receive their payment back in full.",
    "hours.txt": "Opening hours. The branch is open from nine to eight on weekdays and from "
    "ten to four on Saturdays.",
    "notes/fees.txt": "Overdue charges. Items returned late accrue a fine of twenty cents "
    "per day. " + "Fines are capped at the replacement cost. " * 40,
}


@pytest.fixture
def library(engine: Engine, worker: DocumentWorker, tmp_path: Path) -> str:
    folder = folder_of(tmp_path / "library", DOCS)
    return processed(engine, worker, folder, "library", "wordllama")


def names(result: object) -> list[str]:
    return [Path(h.path).name for h in result.hits]  # type: ignore[attr-defined]


def test_meaning_finds_the_answer_that_shares_no_word(
    engine: Engine, library: str, tmp_path: Path
) -> None:
    question = "can I get my money back"
    vector = ask(engine, library, question, tmp_path, mode="vector")
    assert names(vector)[0] == "refunds.md" and vector.method == "exact"
    assert vector.model == "wordllama-l2_supercat-256"
    hybrid = ask(engine, library, question, tmp_path)
    assert names(hybrid)[0] == "refunds.md" and hybrid.mode == "hybrid"
    lexical = ask(engine, library, "saturdays opening", tmp_path, mode="lexical")
    assert names(lexical) == ["hours.txt"]  # only chunks holding a word of the query
    as_json = hybrid.hits[0].as_dict()
    assert list(as_json)[:5] == ["score", "path", "document_id", "chunk", "text"]
    assert as_json["ranks"]["vector"] == 1


def test_filters_keep_only_the_documents_asked_for(
    engine: Engine, library: str, tmp_path: Path
) -> None:
    in_txt = names(ask(engine, library, "fees", tmp_path, document_glob="*.txt", top=10))
    assert set(in_txt) == {"fees.txt", "hours.txt"}  # a glob without "/" matches file names
    assert set(names(ask(engine, library, "fees", tmp_path, document_glob="*/notes/*"))) == {
        "fees.txt"
    }
    only_md = ask(engine, library, "opening hours", tmp_path, media_type="text/markdown")
    assert names(only_md) == ["refunds.md"]
    with pytest.raises(InputError, match=r"--document '\*.pdf'"):
        ask(engine, library, "fees", tmp_path, document_glob="*.pdf")


def test_context_gives_the_neighbouring_chunks_in_order(
    engine: Engine, library: str, tmp_path: Path
) -> None:
    result = ask(engine, library, "overdue fine per day", tmp_path, mode="lexical", context=1)
    hit = result.hits[0]
    assert Path(hit.path).name == "fees.txt" and hit.chunk == 0
    assert [c["chunk"] for c in hit.context] == [1]  # no chunk before the first
    assert "capped" in hit.context[0]["text"]


def test_snippet_centres_on_the_first_match_and_marks_each_matched_word() -> None:
    text = "filler " * 100 + "Donated books are accessioned on arrival. " + "more " * 100
    snippet, spans = snippet_around(text, ["accession", "donated"])
    assert len(snippet) <= 302 and snippet.startswith("…") and snippet.endswith("…")
    assert [snippet[a:b] for a, b in spans] == ["Donated", "accessioned"]


def test_empty_query_is_refused(engine: Engine, library: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        ask(engine, library, "  ", tmp_path)
