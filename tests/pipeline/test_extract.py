from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from fileintel.errors import DocumentError
from fileintel.pipeline import extract
from fileintel.pipeline.pdfgen import minimal_pdf_bytes, write_minimal_pdf

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _reason(path: Path, **kwargs: object) -> str:
    with pytest.raises(DocumentError) as info:
        extract(path, **kwargs)  # type: ignore[arg-type]
    assert info.value.path == str(path)
    return info.value.reason


# --- plain text ---------------------------------------------------------------------------


def test_utf8_text_with_bom_and_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", b"\xef\xbb\xbfline one\r\nline two \xe2\x9c\x93\r\n")
    result = extract(path)
    assert result.text == "line one\nline two \u2713\n"
    assert result.media_type == "text/plain"
    assert (result.title, result.authors, result.pages) == (None, [], None)


def test_latin1_short_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", "café naïve Müller".encode("latin-1"))
    assert extract(path).text == "café naïve Müller"


def test_latin1_example_document() -> None:
    text = extract(EXAMPLES / "07-name-authority-notes.txt").text
    for word in ("Müller", "Gonçalves", "Åström", "Jürgen", "Núñez", "José Ángel", "Société"):
        assert word in text


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", "Grüße aus Köln".encode("utf-16"))
    assert extract(path).text == "Grüße aus Köln"


@pytest.mark.parametrize(
    ("name", "media_type"), [("a.csv", "text/csv"), ("a.json", "application/json")]
)
def test_csv_and_json_are_text(tmp_path: Path, name: str, media_type: str) -> None:
    content = 'a,b\n1,"two"\n' if name.endswith(".csv") else '{"k": "väärtus"}\n'
    result = extract(_write(tmp_path, name, content))
    assert result.text == content
    assert result.media_type == media_type


def test_markdown_title_is_first_h1(tmp_path: Path) -> None:
    md = "Intro line\n## Not this\n```\n# not a heading in code\n```\n# The Title #\n# Second\n"
    assert extract(_write(tmp_path, "a.md", md)).title == "The Title"
    assert extract(_write(tmp_path, "b.md", "## only h2\ntext\n")).title is None
    assert extract(EXAMPLES / "01-introduction.md").title == "Cataloguing a Small Library"


def test_rst_title(tmp_path: Path) -> None:
    assert extract(EXAMPLES / "04-subject-headings.rst").title == "Subject Headings"
    assert extract(_write(tmp_path, "a.rst", "no title here\n\njust text\n")).title is None


def test_media_type_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "notes.dat", "plain words")
    assert extract(path, media_type="text/plain").text == "plain words"


# --- HTML ---------------------------------------------------------------------------------


def test_html_example_visible_text_only() -> None:
    result = extract(EXAMPLES / "03-classification.html")
    assert result.media_type == "text/html"
    assert result.title == "Classification: Putting Like with Like"
    assert result.authors == ["Maria Lindqvist"]
    for hidden in ("SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "font-family", "console.log"):
        assert hidden not in result.text
    assert "How to choose a class number" not in result.text  # <meta> content is not text
    lines = result.text.splitlines()
    assert "630 Agriculture, gardening & beekeeping" in lines  # cells on one row, &amp;
    assert "Literature" not in lines and "800 Literature" in lines
    assert "Classify by what the book is about, not by its title." in lines  # inline <strong>
    assert "author\u2019s surname" in result.text  # &rsquo;
    assert "must always agree \u2014 a book" in result.text  # &nbsp;&mdash; collapsed
    assert "  " not in result.text


def test_html_blocks_breaks_and_whitespace(tmp_path: Path) -> None:
    html = (
        "<html><head><title> T  </title><meta name='Author' content='Ann; Bob'></head>"
        "<body><div>one\n   two<br>three</div><p>four <b>five</b></p>"
        "<ul><li>a</li><li>b</li></ul><pre>x  y\nz</pre></body></html>"
    )
    result = extract(_write(tmp_path, "a.html", html))
    assert result.title == "T"
    assert result.authors == ["Ann", "Bob"]
    assert result.text == "T\n\none two\nthree\n\nfour five\n\na\nb\n\nx y\nz"


def test_html_unclosed_head_and_latin1_charset(tmp_path: Path) -> None:
    html = '<meta charset="iso-8859-1"><head><script>var x = 1;</script><body><p>Gr\xfc\xdfe'
    result = extract(_write(tmp_path, "a.htm", html.encode("latin-1")))
    assert result.text == "Grüße"
    assert result.title is None


def test_html_skipped_elements_in_body(tmp_path: Path) -> None:
    html = (
        "<title>Real</title><body><p>kept</p><svg><title>icon</title><text>drawn</text></svg>"
        "<script>var s = '</div>';</script><iframe>frame</iframe><p>also kept</p></body>"
    )
    result = extract(_write(tmp_path, "a.html", html))
    assert result.title == "Real"
    assert result.text == "Real\n\nkept\n\nalso kept"


def test_html_with_only_script_has_no_text_content(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.html", "<html><script>alert(1)</script><style>p{}</style></html>")
    assert _reason(path) == "no text content"  # not "empty": it has bytes


# --- PDF ----------------------------------------------------------------------------------


def test_pdf_pages_title_author(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    write_minimal_pdf(path, ["Alpha page text", "Beta page text"], title="Doc", author="A; B")
    result = extract(path)
    assert result.media_type == "application/pdf"
    assert result.text == "Alpha page text\n\nBeta page text"
    assert (result.title, result.authors, result.pages) == ("Doc", ["A", "B"], 2)


def test_pdf_example_document() -> None:
    result = extract(EXAMPLES / "05-handling-and-care.pdf")
    assert result.pages == 2
    assert result.title == "Handling and Care of the Collection"
    assert result.authors == ["Library Volunteer Team"]
    assert "Take a book from the shelf by its middle" in result.text
    assert "Repairs and Shelving" in result.text


def test_pdf_without_metadata(tmp_path: Path) -> None:
    result = extract(_write(tmp_path, "a.pdf", minimal_pdf_bytes(["just text"])))
    assert (result.title, result.authors, result.pages) == (None, [], 1)


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf_bytes(["secret text"]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf(tmp_path: Path) -> None:
    assert _reason(_write(tmp_path, "a.pdf", _encrypted("pw"))) == "PDF is encrypted"


def test_pdf_with_empty_user_password_is_readable(tmp_path: Path) -> None:
    assert extract(_write(tmp_path, "a.pdf", _encrypted(""))).text == "secret text"


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.pdf", b"%PDF-1.4\nthis is not really a pdf at all\n")
    assert _reason(path).startswith("corrupt PDF: ")


def test_truncated_pdf(tmp_path: Path) -> None:
    data = minimal_pdf_bytes(["some text " * 50, "more text " * 50], title="T")
    reason = _reason(_write(tmp_path, "a.pdf", data[: len(data) // 2]))
    assert reason.startswith("corrupt PDF: ")
    assert len(reason) < 150


def test_pdf_without_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.pdf", minimal_pdf_bytes(["", ""]))
    assert _reason(path) == "PDF has no extractable text (scanned?)"


# --- document errors ----------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    assert _reason(_write(tmp_path, "a.txt", b"")) == "file is empty"
    assert _reason(_write(tmp_path, "b.pdf", b"")) == "file is empty"


def test_whitespace_only_file(tmp_path: Path) -> None:
    assert _reason(_write(tmp_path, "a.md", " \n\t\r\n  ")) == "no text content"


def test_binary_with_nul_bytes(tmp_path: Path) -> None:
    data = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)) * 4
    assert _reason(_write(tmp_path, "a.txt", data)) == "binary content (not text)"


def test_control_characters_are_binary(tmp_path: Path) -> None:
    data = b"abc\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 20
    assert _reason(_write(tmp_path, "a.txt", data)) == "binary content (not text)"


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("inner.txt", "hello")
    assert _reason(path) == "unsupported media type application/zip"


def test_oversize(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", "x" * 3000)
    assert (
        _reason(path, max_bytes=2048)
        == "file is 2.9 KB, over the 2 KB limit (FILEINTEL_MAX_FILE_MB)"
    )
    assert extract(path, max_bytes=3000).text == "x" * 3000


def test_oversize_in_megabytes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("wb") as fh:
        fh.truncate(int(1.5 * 1024 * 1024))  # sparse: no need to write the bytes
    assert (
        _reason(path, max_bytes=1024 * 1024)
        == "file is 1.5 MB, over the 1 MB limit (FILEINTEL_MAX_FILE_MB)"
    )


def test_missing_file(tmp_path: Path) -> None:
    assert _reason(tmp_path / "gone.txt") == "file not found"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert _reason(folder) == "not a regular file"


def test_pypdf_warnings_do_not_reach_the_terminal(tmp_path: Path) -> None:
    """Without FileIntel's log configured (as in an ingest), pypdf's repairs print nothing."""
    path = _write(tmp_path, "a.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    script = (
        "import sys; from pathlib import Path; from fileintel.pipeline.extract import extract\n"
    )
    script += "try:\n    extract(Path(sys.argv[1]))\nexcept Exception as e:\n    print(e)"
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith(str(path)) and "corrupt PDF" in done.stdout
    assert done.stderr == ""
