"""Outliers: items that few other items lie near, found by a k-nearest-neighbour search, ranked, with the reason.

For every item (a unit vector) the detector finds its ``k`` nearest other items by inner product in a FAISS
index (:func:`selfsim.indexes.build_item_index`; exact below ``exact_below`` items, HNSW above), and counts
how many of them lie within cosine ``radius``. An item with fewer than ``min_neighbours`` there is an
outlier. Outliers are ranked by ``1 - mean cosine of the k nearest``, so the loneliest come first.

With no ``radius`` it comes from the data: the ``percentile``-th percentile of every item's cosine to its
``k``-th neighbour. With the default (10), nine items in ten have all ``k`` neighbours within it, and an
outlier is an item whose ``min_neighbours``-th neighbour is further than most items' ``k``-th. The
percentile should exceed the share of items expected to be outliers, or some of them set the radius.

Each :class:`Outlier` names the signal that flagged it (:data:`NEIGHBOURS`), so another signal (a learned
quantiser's reconstruction error, say) can flag items with its own score and reason alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from selfsim.errors import ConfigError, InputError
from selfsim.indexes import build_item_index

NEIGHBOURS = "neighbours"  # the signal: few neighbours within the radius


@dataclass(frozen=True)
class OutliersConfig:
    """What makes an item an outlier.

    ``k`` neighbours are searched per item; an item with fewer than ``min_neighbours`` of them within
    cosine ``radius`` is an outlier (``radius`` None: chosen from the data as the ``percentile``-th
    percentile of the items' cosine to their ``k``-th neighbour). ``top`` caps how many outliers are kept
    (None: all); ``index`` is a FAISS spec or ``"auto"`` (exact below ``exact_below`` items, else HNSW32).
    """

    k: int = 10
    radius: float | None = None
    min_neighbours: int = 3
    top: int | None = 50
    percentile: float = 10.0
    index: str = "auto"
    exact_below: int = 20_000

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, not {self.k}; try 10.")
        if self.radius is not None and not -1.0 <= self.radius <= 1.0:
            raise ConfigError(f"the radius {self.radius} is not a cosine similarity; give a value between -1 "
                              "and 1, such as 0.5, or none to choose it from the data.")
        if not 1 <= self.min_neighbours <= self.k:
            raise ConfigError(f"min_neighbours must be between 1 and k ({self.k}), not {self.min_neighbours}; "
                              "try 3.")
        if self.top is not None and self.top < 1:
            raise ConfigError(f"top must be at least 1, not {self.top}; try 50, or none for every outlier.")
        if not 0.0 < self.percentile < 100.0:
            raise ConfigError(f"the percentile {self.percentile} must lie between 0 and 100; try 10.")
        if self.exact_below < 0:
            raise ConfigError("exact_below cannot be negative; try 20000.")


@dataclass(frozen=True)
class Outlier:
    """An item flagged as an outlier: its score (higher is lonelier), what the signal saw, and why in words.

    For the :data:`NEIGHBOURS` signal, ``score`` is ``1 - mean cosine of its k nearest``,
    ``neighbours_within`` how many of them lie within the radius, ``nearest_id`` and
    ``nearest_similarity`` its nearest item and their cosine.
    """

    id: str
    score: float
    neighbours_within: int
    nearest_id: str | None
    nearest_similarity: float | None
    reason: str
    signal: str = NEIGHBOURS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def nearest_others(vectors: np.ndarray, k: int, spec: str = "Flat", seed: int = 0,
                   batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """``(similarities, rows)``, each ``(N, k)``: every row's ``k`` nearest other rows by inner product, best first.

    The row itself is left out even when an exact copy ties with it; a neighbour an approximate index
    did not find is row -1 with similarity -1.
    """
    count = len(vectors)
    index = build_item_index(vectors, spec, seed)
    similarities = np.empty((count, k), dtype=np.float32)
    rows = np.empty((count, k), dtype=np.int64)
    for start in range(0, count, batch_size):
        batch = np.ascontiguousarray(vectors[start:start + batch_size], dtype=np.float32)
        scores, found = index.search(batch, k + 1)  # (B, k + 1): one more, for the row itself
        is_self = found == np.arange(start, start + len(batch))[:, None]
        is_self[~is_self.any(axis=1), -1] = True  # itself not among them: drop the furthest instead
        keep = ~is_self
        similarities[start:start + len(batch)] = scores[keep].reshape(len(batch), k)
        rows[start:start + len(batch)] = found[keep].reshape(len(batch), k)
    missing = rows < 0
    similarities[missing] = -1.0
    return similarities, rows


class OutlierDetector:
    """Items with fewer than ``min_neighbours`` of their ``k`` nearest items within cosine ``radius``.

    >>> detector = OutlierDetector(OutliersConfig(k=5)).fit(ids, vectors)   # doctest: +SKIP
    >>> [(o.id, o.reason) for o in detector.outliers_]                      # doctest: +SKIP

    Learned attributes: ``ids_``, ``k_`` (``k``, or fewer for a small set), ``radius_`` and
    ``radius_chosen_`` (whether it came from the data), ``similarities_`` and ``neighbours_`` ``(N, k_)``,
    ``neighbours_within_`` and ``scores_`` ``(N,)``, ``typical_within_`` (three items in four have at least
    this many neighbours within the radius), ``flagged_`` (how many items are outliers, before ``top``) and
    ``outliers_`` (the outliers, loneliest first, at most ``top``).
    """

    def __init__(self, config: OutliersConfig = OutliersConfig()) -> None:
        self.config = config

    def fit(self, ids: Sequence[str], vectors: np.ndarray) -> OutlierDetector:
        """Find the outliers among ``vectors`` (unit rows, one per id)."""
        config = self.config
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(ids):
            raise InputError("give one vector per id, as an (items, dimensions) array.")
        count = len(ids)
        if count <= config.min_neighbours:
            raise InputError(f"finding outliers needs more than {config.min_neighbours} items to compare "
                             f"(there are {count}); add items or lower min_neighbours.")
        k = min(config.k, count - 1)
        spec = config.index
        if spec == "auto":
            spec = "Flat" if count < config.exact_below else "HNSW32"
        similarities, neighbours = nearest_others(vectors, k, spec)
        if config.radius is None:
            radius = float(np.percentile(similarities[:, -1], config.percentile))
        else:
            radius = float(config.radius)
        within = (similarities >= radius).sum(axis=1)
        scores = 1.0 - similarities.mean(axis=1, dtype=np.float64)
        self.ids_ = list(ids)
        self.k_ = k
        self.radius_ = radius
        self.radius_chosen_ = config.radius is None
        self.similarities_ = similarities
        self.neighbours_ = neighbours
        self.neighbours_within_ = within
        self.scores_ = scores
        self.typical_within_ = int(np.floor(np.percentile(within, 25)))
        flagged = np.flatnonzero(within < config.min_neighbours)
        # Loneliest first; ties by fewer neighbours within, then by the order given, so runs agree.
        flagged = flagged[np.lexsort((flagged, within[flagged], -scores[flagged]))]
        self.flagged_ = len(flagged)
        kept = flagged if config.top is None else flagged[:config.top]
        self.outliers_ = [self._outlier(int(row)) for row in kept]
        return self

    def _outlier(self, row: int) -> Outlier:
        within, nearest = int(self.neighbours_within_[row]), int(self.neighbours_[row, 0])
        nearest_id = self.ids_[nearest] if nearest >= 0 else None
        similarity = float(self.similarities_[row, 0]) if nearest >= 0 else None
        reason = (f"{within} of its {self.k_} nearest items {'lies' if within == 1 else 'lie'} within cosine "
                  f"{self.radius_:.2f} "
                  f"(three in four items have {self.typical_within_} or more)")
        if nearest_id is not None:
            reason += f"; its nearest is {nearest_id} ({similarity:.2f})"
        return Outlier(id=self.ids_[row], score=round(float(self.scores_[row]), 6), neighbours_within=within,
                       nearest_id=nearest_id, nearest_similarity=None if similarity is None else round(similarity, 6),
                       reason=reason + ".")

    def summary(self) -> dict[str, Any]:
        """The settings the fit used and what it found, JSON-ready (the outliers under ``outliers``)."""
        return {"items": len(self.ids_), "k": self.k_, "radius": round(self.radius_, 6),
                "radius_chosen": self.radius_chosen_,
                "percentile": self.config.percentile if self.radius_chosen_ else None,
                "min_neighbours": self.config.min_neighbours, "typical_within": self.typical_within_,
                "flagged": self.flagged_, "outliers": [o.to_dict() for o in self.outliers_]}
