from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fileintel.pipeline import TextChunk, chunk_text


def check_invariants(text: str, chunks: list[TextChunk], size: int, overlap: int) -> None:
    """Everything chunk_text promises, checked against the source text."""
    if not text.strip():
        assert chunks == []
        return
    assert chunks, "non-blank text must give at least one chunk"
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert len(c.text) <= size
        assert c.token_count == len(c.text.split())
    # Whole text covered: from the first non-space char to the last one.
    assert chunks[0].start == len(text) - len(text.lstrip())
    assert chunks[-1].end == len(text.rstrip())
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.start < nxt.start
        assert prev.end < nxt.end  # every chunk brings something new
        if nxt.start > prev.end:
            assert not text[prev.end : nxt.start].strip(), "only whitespace may be skipped"
        else:
            assert prev.end - nxt.start <= overlap


# Includes Unicode whitespace (NBSP, NEL, line separator, file separator) on purpose.
texts = st.text(alphabet=st.sampled_from("ab c.\n!?é\t\xa0\x85\u2028\x1c"), max_size=600)


@settings(max_examples=400, deadline=None)
@given(text=texts, size=st.integers(1, 120), data=st.data())
def test_chunk_invariants(text: str, size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    chunks = chunk_text(text, size, overlap)
    check_invariants(text, chunks, size, overlap)
    assert chunk_text(text, size, overlap) == chunks  # deterministic


@settings(max_examples=100, deadline=None)
@given(
    words=st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=8), max_size=300),
    seps=st.sampled_from([" ", "\n", ". ", "\n\n"]),
)
def test_chunks_never_split_short_words(words: list[str], seps: str) -> None:
    text = seps.join(words)
    chunks = chunk_text(text, 60, 15)
    check_invariants(text, chunks, 60, 15)
    for c in chunks:
        assert c.start == 0 or not text[c.start - 1].isalpha()
        assert c.end == len(text) or not text[c.end].isalpha()


def test_validation() -> None:
    for size, overlap in [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)]:
        with pytest.raises(ValueError):
            chunk_text("some text", size, overlap)


def test_blank_text_gives_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []


def test_short_text_is_one_trimmed_chunk() -> None:
    assert chunk_text("  Hello there.  \n") == [TextChunk(0, "Hello there.", 2, 14, 2)]


def test_prefers_paragraph_then_sentence_then_word() -> None:
    para = "First paragraph has words. " * 2 + "\n\n" + "Second one goes on. " * 3
    first = chunk_text(para, 100, 10)[0]
    assert first.text == ("First paragraph has words. " * 2).strip()

    sentences = "One two three four. Five six seven eight nine ten eleven twelve thirteen."
    assert chunk_text(sentences, 30, 5)[0].text == "One two three four."

    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    assert chunk_text(words, 25, 5)[0].text == "alpha beta gamma delta"


def test_hard_cut_without_spaces() -> None:
    chunks = chunk_text("x" * 250, 100, 20)
    assert [(c.start, c.end) for c in chunks] == [(0, 100), (80, 180), (160, 250)]


def test_overlap_starts_at_word_boundary() -> None:
    text = " ".join(f"w{i:03d}" for i in range(100))  # 5 chars per word with its space
    chunks = chunk_text(text, 52, 12)
    for prev, nxt in itertools.pairwise(chunks):
        assert 0 < prev.end - nxt.start <= 12
        assert text[nxt.start - 1] == " "


def test_long_whitespace_run_is_skipped_not_repeated() -> None:
    text = "word " * 30 + "\n" * 300 + "tail words here " * 10
    chunks = chunk_text(text, 50, 20)
    check_invariants(text, chunks, 50, 20)
    assert sum("tail" in c.text and "word " in c.text for c in chunks) == 0


def test_invariants_hold_on_50kb() -> None:
    rng = random.Random(7)
    vocab = ["".join(rng.choices("abcdefghijklmnop", k=rng.randint(2, 9))) for _ in range(500)]
    parts: list[str] = []
    while sum(map(len, parts)) < 50_000:
        sentence = " ".join(rng.choices(vocab, k=rng.randint(5, 20))) + "."
        parts.append(sentence + ("\n\n" if rng.random() < 0.1 else " "))
    text = "".join(parts)[:50_000]
    chunks = chunk_text(text)
    check_invariants(text, chunks, 1200, 200)
    assert len(chunks) >= 50_000 // 1200
