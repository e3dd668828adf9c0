"""Outliers: items that few other items lie near, found by a k-nearest-neighbour search, ranked, with the reason.

For every item (a unit vector) the detector finds its ``k`` nearest other items by inner product in a FAISS
index (:func:`selfsim.indexes.build_item_index`; exact below ``exact_below`` items, HNSW above), and counts
how many of them lie within cosine ``radius``. An item with fewer than ``min_neighbours`` there is an
outlier. Outliers are ranked by ``1 - mean cosine of the k nearest``, so the loneliest come first.

With no ``radius`` it comes from the data: the ``percentile``-th percentile of every item's cosine to its
``k``-th neighbour. With the default (10), nine items in ten have all ``k`` neighbours within it, and an
outlier is an item whose ``min_neighbours``-th neighbour is further than most items' ``k``-th. The
percentile should exceed the share of items expected to be outliers, or some of them set the radius.

Each :class:`Outlier` names the signal that flagged it. With ``signal="reconstruction"``
(:data:`RECONSTRUCTION`) the score is instead each item's squared error when a learned vector quantiser
(:mod:`selfsim.objectives.vector_quantisation`: two residual stages of k-means-started, EMA-trained
codebooks, about one code per 16 items) fitted on the collection's other half rebuilds it: held out, so no
code is spent on the item itself. An item whose error lies beyond Tukey's fence (the upper quartile plus 1.5
interquartile ranges) is an outlier; the neighbour search still runs, to name its nearest item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from selfsim.errors import ConfigError, InputError
from selfsim.indexes import build_item_index
from selfsim.objectives.vector_quantisation import VQConfig, held_out_errors

NEIGHBOURS = "neighbours"  # the signal: few neighbours within the radius
RECONSTRUCTION = "reconstruction"  # the signal: a quantiser fitted on the other items rebuilds it badly
SIGNALS = (NEIGHBOURS, RECONSTRUCTION)
FENCE = 1.5  # interquartile ranges above the upper quartile: Tukey's fence (errors of unit vectors are bounded,
# so the far-out fence at 3 missed planted outliers in a real collection)


@dataclass(frozen=True)
class OutliersConfig:
    """What makes an item an outlier.

    ``k`` neighbours are searched per item; an item with fewer than ``min_neighbours`` of them within
    cosine ``radius`` is an outlier (``radius`` None: chosen from the data as the ``percentile``-th
    percentile of the items' cosine to their ``k``-th neighbour). ``top`` caps how many outliers are kept
    (None: all); ``index`` is a FAISS spec or ``"auto"`` (exact below ``exact_below`` items, else HNSW32).
    ``signal`` is ``"neighbours"`` or ``"reconstruction"`` (see the module); ``codes`` sets the quantiser's
    codes per codebook for the latter (None: one per 16 items it is fitted on, 2 to 256).
    """

    k: int = 10
    radius: float | None = None
    min_neighbours: int = 3
    top: int | None = 50
    percentile: float = 10.0
    index: str = "auto"
    exact_below: int = 20_000
    signal: str = NEIGHBOURS
    codes: int | None = None

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ConfigError(f"unknown outlier signal {self.signal!r}; use one of {', '.join(SIGNALS)}.")
        if self.codes is not None and not 2 <= self.codes <= 256:
            raise ConfigError(f"codes must be between 2 and 256, not {self.codes}; or none to choose it from the "
                              "number of items.")
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
    ``outliers_`` (the outliers, loneliest first, at most ``top``). With the reconstruction signal
    ``scores_`` are the held-out errors, over ``error_threshold_`` is an outlier, ``median_error_`` the median
    (``error_threshold_`` is None for the neighbours signal).
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
        self.error_threshold_: float | None = None
        if config.signal == RECONSTRUCTION:
            scores = self._reconstruction_errors(vectors)
            low, high = np.percentile(scores, [25, 75])
            self.median_error_ = float(np.median(scores))
            self.error_threshold_ = float(high + FENCE * (high - low))
        self.ids_ = list(ids)
        self.k_ = k
        self.radius_ = radius
        self.radius_chosen_ = config.radius is None
        self.similarities_ = similarities
        self.neighbours_ = neighbours
        self.neighbours_within_ = within
        self.scores_ = scores
        self.typical_within_ = int(np.floor(np.percentile(within, 25)))
        if self.error_threshold_ is not None:
            flagged = np.flatnonzero(scores > self.error_threshold_)
        else:
            flagged = np.flatnonzero(within < config.min_neighbours)
        # Loneliest first; ties by fewer neighbours within, then by the order given, so runs agree.
        flagged = flagged[np.lexsort((flagged, within[flagged], -scores[flagged]))]
        self.flagged_ = len(flagged)
        kept = flagged if config.top is None else flagged[:config.top]
        self.outliers_ = [self._outlier(int(row)) for row in kept]
        return self

    def _reconstruction_errors(self, vectors: np.ndarray) -> np.ndarray:
        """Each item's squared error rebuilt by a quantiser fitted on the other half of the items."""
        fitted_on = len(vectors) // 2
        codes = self.config.codes or int(np.clip(fitted_on // 16, 2, 256))
        quantiser = VQConfig(form="residual", codebooks=2, codes=min(codes, fitted_on), transform="none",
                             epochs=2, batch_size=1024, kmeans_iterations=10)
        return held_out_errors(vectors, quantiser).astype(np.float64)

    def _outlier(self, row: int) -> Outlier:
        within, nearest = int(self.neighbours_within_[row]), int(self.neighbours_[row, 0])
        nearest_id = self.ids_[nearest] if nearest >= 0 else None
        similarity = float(self.similarities_[row, 0]) if nearest >= 0 else None
        if self.error_threshold_ is not None:
            error = float(self.scores_[row])
            reason = (f"a vector quantiser fitted on the other items rebuilds it with squared error {error:.3f}, "
                      f"{error / max(self.median_error_, 1e-12):.1f}x the median item's ({self.median_error_:.3f}; "
                      f"outliers lie above {self.error_threshold_:.3f}): its codebooks hold nothing like it")
        else:
            reason = (f"{within} of its {self.k_} nearest items {'lies' if within == 1 else 'lie'} within cosine "
                      f"{self.radius_:.2f} "
                      f"(three in four items have {self.typical_within_} or more)")
        if nearest_id is not None:
            reason += f"; its nearest is {nearest_id} ({similarity:.2f})"
        return Outlier(id=self.ids_[row], score=round(float(self.scores_[row]), 6), neighbours_within=within,
                       nearest_id=nearest_id, nearest_similarity=None if similarity is None else round(similarity, 6),
                       reason=reason + ".", signal=self.config.signal)

    def summary(self) -> dict[str, Any]:
        """The settings the fit used and what it found, JSON-ready (the outliers under ``outliers``)."""
        return {"items": len(self.ids_), "k": self.k_, "radius": round(self.radius_, 6),
                "radius_chosen": self.radius_chosen_,
                "percentile": self.config.percentile if self.radius_chosen_ else None,
                "min_neighbours": self.config.min_neighbours, "typical_within": self.typical_within_,
                "flagged": self.flagged_, "signal": self.config.signal,
                **({"error_threshold": round(self.error_threshold_, 6), "median_error": round(self.median_error_, 6)}
                   if self.error_threshold_ is not None else {}),
                "outliers": [o.to_dict() for o in self.outliers_]}
