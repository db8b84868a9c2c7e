"""The words of a query: what the lexical index is asked for, and what a snippet highlights.

A question is asked in natural language ("how are donated books accessioned"), so the
lexical search wants any of its content words, not all of them: stop words are dropped
here (PostgreSQL's ``english`` configuration drops them too; SQLite's FTS5 does not).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
#: Words too common to say what a question is about.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "me",
        "might",
        "must",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)
#: The shortest common prefix that counts as the same word (``accession``/``accessioned``).
_STEM = 5


def query_terms(query: str) -> list[str]:
    """The distinct lowercased content words of ``query``, in order (all words when every
    one is a stop word, so that "how to" still searches for something)."""
    words = [w.lower() for w in _WORD.findall(query)]
    content = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(content))


def _same_word(word: str, term: str) -> bool:
    if word == term:
        return True
    stem = min(len(term), len(word), max(_STEM, len(term) - 3))
    return stem >= _STEM and word[:stem] == term[:stem]


def matched_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """(start, end) of every word of ``text`` that is one of ``terms`` or shares its stem."""
    spans = []
    for m in _WORD.finditer(text):
        word = m.group().lower()
        if any(_same_word(word, t) for t in terms):
            spans.append(m.span())
    return spans
