"""Document-level metadata: what the format said plus a few cheap measurements."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from fileintel.pipeline.extract import Extracted

_WORD = re.compile(r"\w+")
_LANGUAGE_SAMPLE_CHARS = 6_000  # ~1000 words is plenty for stopword counts
_MIN_HITS = 3
_MIN_SHARE = 0.08  # stopwords are roughly 25-50% of running text in these languages


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# Frequent function words, chosen to overlap little between the languages.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and of to is that it was for with as this are be by not you have from they "
        "which but or at his her we an were their has had been would there what when"
    ),
    "de": _words(
        "der die das und ist nicht ein eine zu den mit sich des auf für im dem auch es "
        "von sie wird werden wir ich oder aber wie nach bei einer noch nur sind"
    ),
    "fr": _words(
        "le la les et des est une du dans pour qui que pas sur au avec ce il elle sont "
        "nous vous ou mais par cette aux été ses leur être plus"
    ),
    "es": _words(
        "el la los las y es una del en que por con para no se su al lo como pero más "
        "sus este esta son fue ha muy también entre sobre hay"
    ),
    "fi": _words(
        "ja on ei se että oli ovat mutta kuin tai niin myös joka jos kun tämä sen ne "
        "mitä vain nyt voi sitä jo jotka siitä mukaan kanssa hän olla"
    ),
}


def detect_language(text: str) -> str | None:
    """Guess the language (en, de, fr, es, fi) from stopword frequency, or None if unsure."""
    words = _WORD.findall(text[:_LANGUAGE_SAMPLE_CHARS].lower())
    if not words:
        return None
    counts = Counter(words)
    scores = {
        lang: sum(counts[w] for w in stop if w in counts) for lang, stop in _STOPWORDS.items()
    }
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    (best, hits), (_, runner_up) = ranked[0], ranked[1]
    if hits < _MIN_HITS or hits / len(words) < _MIN_SHARE or hits <= runner_up * 1.2:
        return None
    return best


def build_metadata(extracted: Extracted, *, sha256: str, size: int) -> dict[str, Any]:
    """Return JSON-serialisable metadata for one extracted document."""
    return {
        "title": extracted.title,
        "authors": list(extracted.authors),
        "pages": extracted.pages,
        "word_count": len(extracted.text.split()),
        "language": detect_language(extracted.text),
        "sha256": sha256,
        "media_type": extracted.media_type,
        "size": size,
    }
