from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fileintel.errors import ConfigurationError
from fileintel.pipeline import embedding
from fileintel.pipeline.embedding import (
    Embedder,
    HashingEmbedder,
    from_bytes,
    get_embedder,
    to_bytes,
)

BEES = "Beekeeping guide: how to keep bees healthy, inspect the hives and harvest honey."
BEES_2 = "A short history of beekeeping, with notes on hives, honey and the bees themselves."
TAX = "Quarterly tax returns must be filed by the accountant before the fiscal deadline."


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # rows are unit length


def test_shape_dtype_and_norms() -> None:
    vecs = HashingEmbedder().embed([BEES, "", "   ...  ", TAX])
    assert vecs.shape == (4, 384)
    assert vecs.dtype == np.float32
    norms = np.linalg.norm(vecs, axis=1)
    np.testing.assert_allclose(norms[[0, 3]], 1.0, rtol=1e-5)
    assert not vecs[1].any() and not vecs[2].any()  # no tokens: zero vector


def test_empty_batch() -> None:
    assert HashingEmbedder(dimension=16).embed([]).shape == (0, 16)


def test_dimension_parameter() -> None:
    emb = HashingEmbedder(dimension=64)
    assert emb.embed([BEES]).shape == (1, 64)
    assert emb.model_name == "hashing-ngrams-v1:64"
    with pytest.raises(ValueError):
        HashingEmbedder(dimension=0)


def test_deterministic_and_independent_of_batch() -> None:
    a = HashingEmbedder().embed([BEES, TAX])
    b = HashingEmbedder().embed([TAX, BEES])
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[1], b[0])
    np.testing.assert_array_equal(HashingEmbedder().embed([BEES])[0], a[0])


def test_stable_across_processes() -> None:
    """Vectors must not depend on Python's per-process string hash seed."""
    code = (
        "import json, sys; from fileintel.pipeline.embedding import HashingEmbedder; "
        "print(json.dumps(HashingEmbedder().embed([sys.argv[1]])[0].tolist()))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code, BEES], capture_output=True, text=True, env=env, check=True
        )
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
    np.testing.assert_array_equal(
        np.array(outputs[0], dtype=np.float32), HashingEmbedder().embed([BEES])[0]
    )


def test_shared_words_score_higher_than_unrelated() -> None:
    query, bees_2, tax = HashingEmbedder().embed(["bees honey hives", BEES_2, TAX])
    assert cosine(query, bees_2) > 0.2
    assert cosine(query, bees_2) > cosine(query, tax) + 0.2


def test_word_order_matters_through_bigrams() -> None:
    same, swapped, other = HashingEmbedder().embed(["new york city", "city york new", "paris"])
    reference = HashingEmbedder().embed(["new york city"])[0]
    assert cosine(reference, same) == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < cosine(reference, swapped) < 0.9  # same words, different bigrams
    assert cosine(reference, swapped) > cosine(reference, other)


def test_case_and_punctuation_insensitive() -> None:
    a, b, c = HashingEmbedder().embed(["Hello, World!", "hello world", "hello\u2014world"])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, c)  # non-ASCII punctuation splits words like ASCII does


def test_unicode_words() -> None:
    a, b, c = HashingEmbedder().embed(["Müller café naïve", "müller CAFÉ naïve", "muller cafe"])
    np.testing.assert_array_equal(a, b)
    assert cosine(a, c) < 0.5  # accented letters are different letters


def test_char_trigrams_link_word_forms() -> None:
    plain = HashingEmbedder()
    grams = HashingEmbedder(char_trigrams=True)
    assert grams.model_name == "hashing-ngrams-c3-v1"
    p = plain.embed(["cataloguing", "catalogued"])
    g = grams.embed(["cataloguing", "catalogued"])
    assert cosine(g[0], g[1]) > 0.3 > abs(cosine(p[0], p[1]))


def test_sublinear_term_frequency() -> None:
    emb = HashingEmbedder(dimension=4096)
    honey, mixed = emb.embed(["honey", "honey" + " bees" * 50])
    # Features: honey x1, "honey bees" x1, bees x50, "bees bees" x49; each weighs 1 + ln(tf).
    weights = np.array([1.0, 1.0, 1 + np.log(50), 1 + np.log(49)])
    assert cosine(honey, mixed) == pytest.approx(1 / np.linalg.norm(weights), rel=1e-4)
    assert cosine(honey, mixed) > 0.1  # raw counts would give ~0.014


def test_batches_larger_than_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"text number {i} about bees" for i in range(10)]
    expected = HashingEmbedder().embed(texts)
    monkeypatch.setattr(embedding, "_MAX_ROWS", 3)
    np.testing.assert_array_equal(HashingEmbedder().embed(texts), expected)


def test_cache_turnover_never_mutates_a_cache_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread may still be reading the old token cache: it must be replaced, not cleared."""
    monkeypatch.setattr(embedding, "_MAX_CACHE", 5)
    shared = HashingEmbedder()
    first = shared.embed(["one two three four five six seven"])
    in_use = shared._words
    snapshot = dict(in_use)
    second = shared.embed(["eight nine ten"])  # over the limit: a fresh cache is started
    assert shared._words is not in_use
    assert in_use == snapshot
    np.testing.assert_array_equal(
        first, HashingEmbedder().embed(["one two three four five six seven"])
    )
    np.testing.assert_array_equal(second, HashingEmbedder().embed(["eight nine ten"]))
    texts = [f"thread text {i} about bees, honey and word{i % 7}" for i in range(30)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: shared.embed(texts), range(32)))
    for result in results:
        np.testing.assert_array_equal(result, HashingEmbedder().embed(texts))


def test_forty_full_chunks_embed_to_unit_rows() -> None:
    words = (BEES + " " + TAX).split()
    texts = [" ".join(words[(i + j) % len(words)] for j in range(200))[:1200] for i in range(40)]
    vecs = HashingEmbedder().embed(texts)
    assert vecs.shape == (40, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


def test_bytes_round_trip() -> None:
    vec = HashingEmbedder().embed([BEES])[0]
    raw = to_bytes(vec)
    assert len(raw) == 4 * 384
    back = from_bytes(raw, 384)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, vec)
    back[0] = 1.0  # a writable copy, not a view on the bytes


def test_bytes_are_little_endian_float32() -> None:
    assert to_bytes(np.array([1.0, -2.5], dtype=np.float64)) == struct.pack("<2f", 1.0, -2.5)
    big_endian = np.array([0.5], dtype=">f4")
    assert to_bytes(big_endian) == struct.pack("<f", 0.5)
    with pytest.raises(ValueError):
        from_bytes(b"\x00" * 12, 4)


def test_get_embedder_names() -> None:
    assert get_embedder().model_name == "wordllama-l2_supercat-256"  # the default
    default = get_embedder("hashing")
    assert isinstance(default, HashingEmbedder)
    assert isinstance(default, Embedder)
    assert (default.model_name, default.dimension) == ("hashing-ngrams-v1", 384)
    assert get_embedder("hashing") is default  # shared, keeps its token cache warm
    assert get_embedder("hashing:128").dimension == 128
    for emb in (default, HashingEmbedder(128), HashingEmbedder(char_trigrams=True)):
        again = get_embedder(emb.model_name)  # a stored model name recreates the embedder
        assert again.model_name == emb.model_name
        np.testing.assert_array_equal(again.embed([BEES]), emb.embed([BEES]))


@pytest.mark.parametrize("name", ["word2vec", "hashing:abc", "hashing:0", "sentence-transformers:"])
def test_get_embedder_rejects_unknown(name: str) -> None:
    with pytest.raises(ConfigurationError):
        get_embedder(name)


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed",
)
def test_sentence_transformers_missing_is_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="pip install"):
        get_embedder("sentence-transformers:all-MiniLM-L6-v2")
