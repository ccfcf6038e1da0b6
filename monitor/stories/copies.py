"""Near-copies: shingle MinHash signatures and an LSH index over them.

The only module that imports ``datasketch``. In: the words of an article. Out: a signature of
``PERMUTATIONS`` 32-bit values whose agreement estimates the Jaccard similarity of two texts'
shingle sets, and an index that finds, in time independent of how many texts it holds, the
texts whose estimate is likely above ``COPY_JACCARD``. A wire story reprinted by five sites,
with its headline changed and a sentence cut, keeps most of its shingles; two reports written
independently share almost none, however alike their subject.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from functools import cache

import numpy as np
from datasketch import MinHash, MinHashLSH

PERMUTATIONS = 64
#: Estimated Jaccard similarity of shingle sets from which one text is a copy of another.
#: Wire reprints measured 0.55-0.95 on the labelled set; independent reports of one event
#: stay under 0.1.
COPY_JACCARD = 0.5
_SEED = 11


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    return MinHash(num_perm=PERMUTATIONS, seed=_SEED, scheme="affine32").permutations  # type: ignore[no-any-return]


def signature(shingles: Iterable[str]) -> np.ndarray:
    """Return the MinHash signature (uint32, ``PERMUTATIONS`` values) of a set of shingles."""
    sketch = MinHash(num_perm=PERMUTATIONS, seed=_SEED, permutations=_permutations(),
                     scheme="affine32")
    batch = [s.encode("utf-8") for s in set(shingles)]
    if batch:
        sketch.update_batch(batch)
    return np.asarray(sketch.hashvalues, dtype=np.uint32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    if a.size != b.size or a.size == 0:
        return 0.0
    return float(np.count_nonzero(a == b)) / a.size


def is_empty(sig: np.ndarray) -> bool:
    """True for the signature of no shingles at all (every value at its maximum)."""
    return bool(np.all(sig == np.uint32(0xFFFFFFFF)))


class CopyIndex:
    """Signatures by key; ``query`` returns the keys that may be copies of a signature."""

    def __init__(self) -> None:
        self._lsh = MinHashLSH(threshold=COPY_JACCARD, num_perm=PERMUTATIONS)

    def add(self, key: Hashable, sig: np.ndarray) -> None:
        if key in self._lsh or is_empty(sig):
            return
        self._lsh.insert(key, _as_minhash(sig), check_duplication=False)

    def remove(self, key: Hashable) -> None:
        if key in self._lsh:
            self._lsh.remove(key)

    def query(self, sig: np.ndarray) -> list[Hashable]:
        if is_empty(sig):
            return []
        return list(self._lsh.query(_as_minhash(sig)))


def _as_minhash(sig: np.ndarray) -> MinHash:
    return MinHash(num_perm=PERMUTATIONS, seed=_SEED, hashvalues=sig.astype(np.uint64),
                   scheme="affine32",
                   permutations=_permutations())
