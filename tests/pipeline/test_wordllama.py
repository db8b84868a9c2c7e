"""The default embedder: WordLlama, loaded from its wheel with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from fileintel.pipeline.embedding import HashingEmbedder, get_embedder
from fileintel.pipeline.wordllama import DIMENSION, MODEL_NAME, WordLlamaEmbedder

REFUND = "Refund policy: purchases may be returned within 30 days for reimbursement."
MONEY = "how do I get my money back"
BEES = "Keeping bees: inspect the hives in spring and harvest the honey in late summer."

# Loads the model the way a worker does and prints what it embedded.
_OFFLINE_PROBE = """
import json, socket, sys
from fileintel.pipeline.embedding import get_embedder
try:  # proves the namespace really has no network: nothing outside answers
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    sys.exit("network reachable")
except OSError:
    pass
e = get_embedder("wordllama")
v = e.embed(["how do I get my money back", "refund policy", ""])
print(json.dumps({"model": e.model_name, "shape": list(v.shape), "sim": float(v[0] @ v[1]),
                  "empty": float(abs(v[2]).sum())}))
"""


def test_embeds_unit_vectors_and_empty_texts_as_zero() -> None:
    e = get_embedder("wordllama")
    assert isinstance(e, WordLlamaEmbedder)
    assert get_embedder("wordllama") is e  # one model per process
    assert get_embedder(MODEL_NAME) is e  # the stored name loads it again
    v = e.embed([REFUND, "", "  ", BEES])
    assert v.shape == (4, DIMENSION) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[[0, 3]], axis=1), 1.0, rtol=1e-5)
    assert not v[1].any() and not v[2].any()
    assert e.embed([]).shape == (0, DIMENSION)


def test_batches_give_the_same_vectors_as_single_texts() -> None:
    e = get_embedder("wordllama")
    texts = [REFUND, MONEY, BEES] * 100  # more than one tokenizer batch
    together = e.embed(texts)
    np.testing.assert_allclose(together[1], e.embed([MONEY])[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(together[-1], e.embed([BEES])[0], rtol=1e-5, atol=1e-6)


def test_finds_meaning_where_hashing_finds_no_shared_word() -> None:
    """The issue's example: no word in common, yet the refund text is the closest."""
    hashed = HashingEmbedder().embed([MONEY, REFUND, BEES])
    assert abs(float(hashed[0] @ hashed[1])) < 0.15  # only bucket collisions
    q, refund, bees = get_embedder("wordllama").embed([MONEY, REFUND, BEES])
    assert float(q @ refund) > float(q @ bees) + 0.1


def test_loads_and_embeds_with_the_network_unplugged(tmp_path: Path) -> None:
    """In a new network namespace (no interface but a down loopback) and an empty home
    (no download cache), the model still loads from the wheel and embeds."""
    probe = subprocess.run(
        ["unshare", "--net", "--map-root-user", sys.executable, "-c", _OFFLINE_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "0"},
    )
    assert probe.returncode == 0, probe.stderr
    out = json.loads(probe.stdout)
    assert out["model"] == MODEL_NAME
    assert out["shape"] == [3, DIMENSION]
    assert out["sim"] > 0.2 and out["empty"] == 0.0
    assert not (tmp_path / ".cache").exists()  # nothing downloaded, nothing cached
