from __future__ import annotations

import json

import pytest

from fileintel.pipeline import Extracted, build_metadata, detect_language

SAMPLES = {
    "en": "The catalogue is a promise that the book exists, where it is and what it is about.",
    "de": "Der Katalog ist ein Versprechen, dass das Buch existiert und wo es im Regal steht.",
    "fr": "Le catalogue est une promesse que le livre existe et qu'il est dans la bibliothèque.",
    "es": "El catálogo es una promesa de que el libro existe y de que está en la biblioteca.",
    "fi": "Luettelo on lupaus siitä, että kirja on olemassa ja että se on hyllyssä, mutta ei aina.",
}


@pytest.mark.parametrize(("lang", "text"), sorted(SAMPLES.items()))
def test_detect_language(lang: str, text: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "1042 630 1998", "Beekeeping", "lorem ipsum dolor sit amet"])
def test_detect_language_unsure(text: str) -> None:
    assert detect_language(text) is None


def test_build_metadata() -> None:
    extracted = Extracted(
        text=SAMPLES["en"] + "\n\nSecond paragraph here.",
        media_type="application/pdf",
        title="A Title",
        authors=["Ann", "Bob"],
        pages=2,
    )
    meta = build_metadata(extracted, sha256="ab" * 32, size=1234)
    assert meta == {
        "title": "A Title",
        "authors": ["Ann", "Bob"],
        "pages": 2,
        "word_count": 20,
        "language": "en",
        "sha256": "ab" * 32,
        "media_type": "application/pdf",
        "size": 1234,
    }
    assert json.loads(json.dumps(meta)) == meta
    meta["authors"].append("Eve")
    assert extracted.authors == ["Ann", "Bob"]  # a copy, not the extracted list
