"""MinHash signatures and locality-sensitive hashing: lexical near-duplicates without all pairs.

The Jaccard similarity of two shingle sets equals the chance that a random
hash function has its minimum on a shingle the two share (Broder 1997). A
signature of ``num_perm`` such minima estimates it; cutting the signature into
``bands`` of ``rows`` and bucketing each band finds the pairs likely to be
above a threshold (the candidate probability is ``1 - (1 - s^rows)^bands``)
in time linear in the number of texts. Candidates are then checked against
the estimated Jaccard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selfsim.data.shingles import hashed_shingles
from selfsim.errors import ConfigError

# A Mersenne prime below 2^31, so (a * x + b) with a, x, b < 2^31 never overflows 64 bits.
_PRIME = np.uint64((1 << 31) - 1)


@dataclass(frozen=True)
class MinHashConfig:
    """Signature length, shingle size and the Jaccard threshold the LSH bands are tuned for."""

    num_perm: int = 128
    shingle_size: int = 3
    threshold: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError("the lexical (Jaccard) threshold must lie in (0, 1]; try 0.8.")
        if self.num_perm < 8 or self.shingle_size < 1:
            raise ConfigError("num_perm must be at least 8 and shingle_size at least 1.")


def lsh_bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` whose S-curve crosses 0.5 nearest the threshold,
    leaning towards recall (false candidates are removed by the check that follows)."""
    best, best_error = (1, num_perm), float("inf")
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        midpoint = (1.0 / bands) ** (1.0 / rows)  # similarity where the candidate probability is ~0.5
        error = abs(midpoint - threshold * 0.92)  # aim a little below the threshold for recall
        if error < best_error:
            best, best_error = (bands, rows), error
    return best


class MinHasher:
    """Estimator: MinHash signatures of texts and the pairs whose estimated Jaccard reaches the threshold.

    ``fit(texts)`` sets ``signatures_`` (N, num_perm) and ``pairs_``: an (M, 2) array of
    index pairs ``i < j`` with ``similarities_`` (M,), the estimated Jaccard of each pair.
    """

    def __init__(self, config: MinHashConfig = MinHashConfig()) -> None:
        self.config = config

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """(N, num_perm) uint32 MinHash signatures; an empty text gets the same constant signature."""
        rng = np.random.default_rng(self.config.seed)
        a = rng.integers(1, int(_PRIME), size=self.config.num_perm, dtype=np.uint64)
        b = rng.integers(0, int(_PRIME), size=self.config.num_perm, dtype=np.uint64)
        out = np.full((len(texts), self.config.num_perm), int(_PRIME), dtype=np.uint32)
        for row, text in enumerate(texts):
            hashes = hashed_shingles(text, self.config.shingle_size) % _PRIME
            if len(hashes):
                # Universal hashing (a * x + b) mod p, one column per permutation.
                out[row] = ((a[None, :] * hashes[:, None] + b[None, :]) % _PRIME).min(axis=0)
        return out

    def fit(self, texts: Sequence[str]) -> MinHasher:
        """Sign ``texts`` and find the pairs at or above the threshold."""
        signatures = self.signatures(texts)
        bands, rows = lsh_bands(self.config.num_perm, self.config.threshold)
        candidates: set[tuple[int, int]] = set()
        for band in range(bands):
            buckets: dict[bytes, list[int]] = defaultdict(list)
            block = np.ascontiguousarray(signatures[:, band * rows:(band + 1) * rows])
            for index, key in enumerate(block):
                buckets[key.tobytes()].append(index)
            for members in buckets.values():
                if 1 < len(members):
                    first = members[0]
                    # A star per bucket keeps big buckets (many copies) linear; grouping joins them.
                    candidates.update((first, other) for other in members[1:])
                    if len(members) <= 32:
                        candidates.update((x, y) for i, x in enumerate(members) for y in members[i + 1:])
        if candidates:
            pairs = np.array(sorted(candidates), dtype=np.int64)
            estimates = (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1)
            keep = estimates >= self.config.threshold
            self.pairs_, self.similarities_ = pairs[keep], estimates[keep].astype(np.float32)
        else:
            self.pairs_, self.similarities_ = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
        self.signatures_ = signatures
        return self
