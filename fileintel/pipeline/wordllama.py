"""The default embedder: WordLlama's ``l2_supercat`` model (256 dimensions), loaded offline.

The ``wordllama`` wheel ships the weights (``weights/l2_supercat_256.safetensors``) and the
tokenizer (``tokenizers/l2_supercat_tokenizer_config.json``), but its loader looks for the
tokenizer under ``tokenizer/`` (singular) and then downloads it. Given the package's own
folder as the cache directory it finds both files there; ``disable_download`` makes a
missing file an error instead of a network call.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fileintel.config import WORDLLAMA_MODEL
from fileintel.errors import ConfigurationError

#: The name stored with every chunk this embedder wrote.
MODEL_NAME = WORDLLAMA_MODEL
DIMENSION = 256
_CONFIG = "l2_supercat"
_BATCH = 256  # texts per tokenizer call: bounds the token-id arrays held at once


class WordLlamaEmbedder:
    """Mean of the model's token vectors, L2-normalised; empty texts give zero rows."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self) -> None:
        try:
            import wordllama
            from wordllama import WordLlama
        except ImportError as e:  # a broken install: the package is a dependency
            raise ConfigurationError(
                "FILEINTEL_EMBEDDER: 'wordllama' needs the wordllama package; "
                "reinstall FileIntel (pip install fileintel)"
            ) from e
        bundled = Path(wordllama.__file__).parent
        try:
            model: Any = WordLlama.load(
                _CONFIG, cache_dir=bundled, dim=DIMENSION, disable_download=True
            )
        except FileNotFoundError as e:
            raise ConfigurationError(
                f"FILEINTEL_EMBEDDER: the wordllama model files are missing from {bundled}: {e}"
            ) from e
        self._vectors: np.ndarray = np.ascontiguousarray(model.embedding, dtype=np.float32)
        self._tokenizer: Any = model.tokenizer
        self._tokenizer.no_padding()  # pooled below from flat ids: no pad tokens to mask
        self._tokenizer.no_truncation()

    def __repr__(self) -> str:
        return f"WordLlamaEmbedder(model_name={self.model_name!r})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, 256) float32 array of normalised mean token vectors."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for first in range(0, len(texts), _BATCH):
            # Blank texts are empty: the tokenizer would give whitespace a vector.
            batch = [t if t.strip() else "" for t in texts[first : first + _BATCH]]
            encoded = self._tokenizer.encode_batch(batch, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(batch))
            if not lengths.any():
                continue
            ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encoded])
            np.clip(ids, 0, self._vectors.shape[0] - 1, out=ids)
            rows = np.flatnonzero(lengths)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[rows]
            sums = np.add.reduceat(self._vectors[ids], starts, axis=0)
            out[first + rows] = sums / lengths[rows, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


_shared: WordLlamaEmbedder | None = None
_lock = threading.Lock()


def shared_wordllama() -> WordLlamaEmbedder:
    """One loaded model per process (about 30 MB of vectors), created on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = WordLlamaEmbedder()
        return _shared
