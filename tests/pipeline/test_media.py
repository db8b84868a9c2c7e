from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fileintel.pipeline import SUPPORTED_MEDIA_TYPES, detect_media_type
from fileintel.pipeline.pdfgen import write_minimal_pdf


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "text/plain"),
        ("a.md", "text/markdown"),
        ("a.html", "text/html"),
        ("a.htm", "text/html"),
        ("a.pdf", "application/pdf"),
        ("a.csv", "text/csv"),
        ("a.json", "application/json"),
        ("a.rst", "text/x-rst"),
        ("UPPER.PDF", "application/pdf"),
        ("Notes.Md", "text/markdown"),
    ],
)
def test_extension_decides_without_reading(tmp_path: Path, name: str, expected: str) -> None:
    # The file does not exist: a known extension must be enough.
    assert detect_media_type(tmp_path / name) == expected


def test_extension_wins_over_content(tmp_path: Path) -> None:
    path = tmp_path / "looks-like-pdf.txt"
    path.write_bytes(b"%PDF-1.4 but really a text file about PDFs")
    assert detect_media_type(path) == "text/plain"


def test_pdf_sniffed_by_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "scan-0001"
    write_minimal_pdf(path, ["hello"])
    assert detect_media_type(path) == "application/pdf"


def test_zip_sniffed_and_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("inner.txt", "hello")
    media_type = detect_media_type(path)
    assert media_type == "application/zip"
    assert media_type not in SUPPORTED_MEDIA_TYPES


def test_unknown_content_is_octet_stream(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)))
    assert detect_media_type(path) == "application/octet-stream"


def test_missing_file_with_unknown_extension(tmp_path: Path) -> None:
    assert detect_media_type(tmp_path / "nope.xyz") == "application/octet-stream"


def test_supported_types() -> None:
    assert {
        "text/plain",
        "text/markdown",
        "text/html",
        "application/pdf",
        "text/csv",
        "application/json",
        "text/x-rst",
    } == SUPPORTED_MEDIA_TYPES
