from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from fileintel.pipeline.pdfgen import minimal_pdf_bytes, write_minimal_pdf


def test_round_trip_through_strict_reader(tmp_path: Path) -> None:
    path = tmp_path / "two.pdf"
    write_minimal_pdf(path, ["First page\nsecond line", "Page two"], title="T", author="A")
    reader = PdfReader(path, strict=True)  # strict: xref offsets must be exact
    assert len(reader.pages) == 2
    assert reader.metadata is not None
    assert reader.metadata.title == "T"
    assert reader.metadata.author == "A"
    assert reader.pages[0].extract_text().splitlines() == ["First page", "second line"]
    assert reader.pages[1].extract_text() == "Page two"


def test_special_characters_are_escaped() -> None:
    text = r"parens (inside) and a back\slash, café"
    reader = PdfReader(io.BytesIO(minimal_pdf_bytes([text], title="Ünïcode title")))
    assert reader.pages[0].extract_text() == text
    assert reader.metadata is not None
    assert reader.metadata.title == "Ünïcode title"


def test_long_lines_are_wrapped_not_lost() -> None:
    words = [f"word{i}" for i in range(200)]
    reader = PdfReader(io.BytesIO(minimal_pdf_bytes([" ".join(words)])))
    text = reader.pages[0].extract_text()
    assert len(text.splitlines()) > 5
    assert text.split() == words


def test_blank_page_has_no_text() -> None:
    reader = PdfReader(io.BytesIO(minimal_pdf_bytes(["", "x"])))
    assert reader.pages[0].extract_text() == ""
    assert reader.pages[1].extract_text() == "x"


def test_no_pages_rejected() -> None:
    with pytest.raises(ValueError):
        minimal_pdf_bytes([])
