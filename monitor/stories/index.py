"""Nearest vectors among the open stories' articles: the only module that imports ``usearch``.

In: unit vectors under integer keys, added and removed as stories open, grow and expire. Out:
for a query vector, the keys of the most similar vectors with their cosine similarity. Below
``EXACT_BELOW`` vectors the search compares with every one (exact, and faster than a graph at
that size); above it, an HNSW graph answers in time that grows with the logarithm of the size,
so 100,000 open stories cost a match little more than 1,000.
"""

from __future__ import annotations

import numpy as np
from usearch.index import Index

from monitor.stories.embed import DIMENSIONS

EXACT_BELOW = 4_096


class VectorIndex:
    """Unit vectors by integer key; ``nearest`` returns ``(key, cosine)`` best first."""

    def __init__(self) -> None:
        # Half-precision storage: cosine errors of about 1e-3, half the memory of float32.
        self._index = Index(ndim=DIMENSIONS, metric="cos", dtype="f16", connectivity=16,
                            expansion_add=64, expansion_search=64)

    def __len__(self) -> int:
        return len(self._index)

    def add(self, key: int, vector: np.ndarray) -> None:
        self._index.add(key, vector.astype(np.float32), threads=1)

    def add_many(self, keys: list[int], vectors: np.ndarray, *, threads: int = 0) -> None:
        """Add a batch at once (a restart's rebuild); ``threads=0`` uses every core."""
        if keys:
            self._index.add(np.asarray(keys, dtype=np.uint64), vectors.astype(np.float32),
                            threads=threads)

    def remove(self, key: int) -> None:
        self._index.remove(key)

    def nearest(self, vector: np.ndarray, count: int) -> list[tuple[int, float]]:
        if len(self._index) == 0:
            return []
        found = self._index.search(vector.astype(np.float32), count,
                                   exact=len(self._index) < EXACT_BELOW, threads=1)
        return [(int(k), 1.0 - float(d)) for k, d in zip(found.keys, found.distances,
                                                         strict=True)]
