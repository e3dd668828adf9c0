"""What to label next: uncertain items, spread across the collection so they are not all alike.

Margin sampling (Scheffer et al. 2001) ranks unlabelled items by the gap
between the classifier's two most probable classes: a small gap means the
label would move the decision boundary. The most uncertain items tend to
crowd together, so the most uncertain ``pool_factor * n`` candidates are
grouped into ``n`` clusters (k-means on their embeddings) and the most
uncertain item of each cluster is suggested — the "cluster-margin" recipe of
Citovsky et al. 2021 in its simplest form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfsim.errors import ConfigError


@dataclass(frozen=True)
class SuggestConfig:
    """How many candidates to cluster per suggestion, and the k-means seed."""

    pool_factor: int = 5
    seed: int = 0


def margins(probabilities: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row (0 = undecided, 1 = certain)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    top_two = -np.partition(-probabilities, 1, axis=1)[:, :2]
    return top_two[:, 0] - top_two[:, 1]


def suggest(probabilities: np.ndarray, vectors: np.ndarray, n: int,
            config: SuggestConfig = SuggestConfig()) -> np.ndarray:
    """Row indices of up to ``n`` items to label next, most uncertain first.

    ``probabilities`` (N, C) are the classifier's on the unlabelled items and
    ``vectors`` (N, D) their embeddings.
    """
    if n < 1:
        raise ConfigError(f"ask for at least one suggestion, not {n}.")
    probabilities = np.asarray(probabilities)
    if len(probabilities) != len(vectors):
        raise ConfigError("give one probability row per vector.")
    uncertainty = margins(probabilities)
    order = np.argsort(uncertainty, kind="stable")
    if len(order) <= n:
        return order
    candidates = order[:max(n, config.pool_factor * n)]
    if len(candidates) == n:
        return candidates
    from sklearn.cluster import KMeans

    groups = KMeans(n_clusters=n, n_init=3, random_state=config.seed).fit_predict(
        np.asarray(vectors, dtype=np.float32)[candidates])
    picked = []
    for group in np.unique(groups):
        members = candidates[groups == group]
        picked.append(members[np.argmin(uncertainty[members])])
    picked_rows = np.asarray(picked)
    return picked_rows[np.argsort(uncertainty[picked_rows], kind="stable")]
