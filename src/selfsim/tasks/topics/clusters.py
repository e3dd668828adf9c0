"""Clustering, the second stage of the topic pipeline: k-means (FAISS), HDBSCAN, agglomerative, GMM.

Every clusterer is an estimator: ``__init__`` stores parameters, ``fit(vectors)``
returns ``self`` and sets ``labels_`` (N,) with ``-1`` for items it calls
noise (only HDBSCAN does) and ``n_clusters_``. :func:`choose_k` fits over a
range of ``k`` and keeps the best by silhouette (or any score given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from selfsim.errors import ConfigError
from selfsim.threads import KMEANS_PARALLEL_WORK, faiss_threads_for

# Agglomerative clustering keeps an N x N distance structure; beyond this it is the wrong tool.
AGGLOMERATIVE_LIMIT = 30_000


@runtime_checkable
class Clusterer(Protocol):
    """Assigns each of N vectors a cluster id (``labels_``), -1 meaning noise."""

    labels_: np.ndarray

    def fit(self, vectors: np.ndarray) -> Clusterer:
        """Cluster ``vectors`` (N, d) and set ``labels_``."""
        ...


def _check_k(k: int, count: int) -> None:
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k}.")
    if k > count:
        raise ConfigError(f"k={k} is larger than the {count} items to cluster; choose k of at most {count}.")


class NoClustering:
    """The do-nothing clusterer: every item in cluster 0."""

    def fit(self, vectors: np.ndarray) -> NoClustering:
        """Put everything in one cluster."""
        self.labels_ = np.zeros(len(vectors), dtype=np.int64)
        self.n_clusters_ = 1 if len(vectors) else 0
        return self


class KMeansClusterer:
    """k-means with FAISS: ``n_init`` restarts, the lowest-inertia run kept.

    ``spherical`` re-normalises the centroids after each step (k-means on the
    unit sphere, i.e. by cosine), which suits sentence vectors.
    """

    def __init__(self, k: int = 20, n_init: int = 5, max_iter: int = 50, spherical: bool = True,
                 seed: int = 0) -> None:
        self.k = k
        self.n_init = n_init
        self.max_iter = max_iter
        self.spherical = spherical
        self.seed = seed

    def fit(self, vectors: np.ndarray) -> KMeansClusterer:
        """Learn ``centroids_`` (k, d) and assign ``labels_``."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        _check_k(self.k, len(vectors))
        spherical = self.spherical and _unit_rows(vectors)
        model = faiss.Kmeans(vectors.shape[1], self.k, niter=self.max_iter, nredo=self.n_init,
                             spherical=spherical, seed=self.seed, verbose=False,
                             max_points_per_centroid=max(256, -(-len(vectors) // self.k)),
                             min_points_per_centroid=1)
        work = float(len(vectors)) * vectors.shape[1] * self.k * self.max_iter * self.n_init
        with faiss_threads_for(work, KMEANS_PARALLEL_WORK):
            model.train(vectors)
            distances, labels = model.index.search(vectors, 1)
        self.centroids_ = model.centroids
        self.labels_ = labels.ravel().astype(np.int64)
        self.inertia_ = float(model.obj[-1]) if len(model.obj) else float(distances.sum())
        self.n_clusters_ = self.k
        return self


class HDBSCANClusterer:
    """HDBSCAN (scikit-learn): finds the number of clusters itself and leaves noise out (label -1).

    Works best after a reduction to a few dimensions (UMAP); in 384 dimensions
    densities are flat and it calls much of the data noise.
    """

    def __init__(self, min_cluster_size: int = 15, min_samples: int | None = None,
                 selection: str = "eom") -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.selection = selection

    def fit(self, vectors: np.ndarray) -> HDBSCANClusterer:
        """Cluster; ``labels_`` holds -1 for noise."""
        from sklearn.cluster import HDBSCAN

        if len(vectors) < 2:
            raise ConfigError("HDBSCAN needs at least two items.")
        model = HDBSCAN(min_cluster_size=max(2, min(self.min_cluster_size, len(vectors))),
                        min_samples=self.min_samples, cluster_selection_method=self.selection,
                        copy=True)
        self.labels_ = model.fit_predict(np.asarray(vectors, dtype=np.float64)).astype(np.int64)
        self.n_clusters_ = int(self.labels_.max() + 1) if len(self.labels_) else 0
        self.noise_ = int((self.labels_ < 0).sum())
        return self


class AgglomerativeClusterer:
    """Agglomerative clustering (scikit-learn), Ward linkage by default; up to ~30k items."""

    def __init__(self, k: int = 20, linkage: str = "ward") -> None:
        self.k = k
        self.linkage = linkage

    def fit(self, vectors: np.ndarray) -> AgglomerativeClusterer:
        """Merge items bottom-up until ``k`` clusters remain."""
        from sklearn.cluster import AgglomerativeClustering

        _check_k(self.k, len(vectors))
        if len(vectors) > AGGLOMERATIVE_LIMIT:
            raise ConfigError(f"agglomerative clustering of {len(vectors):,} items needs too much memory; "
                              f"use kmeans, or cluster at most {AGGLOMERATIVE_LIMIT:,} items.")
        metric = "euclidean" if self.linkage == "ward" else "cosine"
        model = AgglomerativeClustering(n_clusters=self.k, linkage=self.linkage, metric=metric)
        self.labels_ = model.fit_predict(np.asarray(vectors, dtype=np.float32)).astype(np.int64)
        self.n_clusters_ = self.k
        return self


class GaussianMixtureClusterer:
    """A Gaussian mixture (scikit-learn), diagonal covariances by default, started from k-means."""

    def __init__(self, k: int = 20, covariance_type: str = "diag", max_iter: int = 200, n_init: int = 1,
                 seed: int = 0) -> None:
        self.k = k
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.n_init = n_init
        self.seed = seed

    def fit(self, vectors: np.ndarray) -> GaussianMixtureClusterer:
        """Fit the mixture and label each item with its most probable component."""
        from sklearn.mixture import GaussianMixture

        _check_k(self.k, len(vectors))
        vectors = np.asarray(vectors, dtype=np.float64)
        start = KMeansClusterer(self.k, n_init=3, spherical=False, seed=self.seed).fit(vectors)
        model = GaussianMixture(n_components=self.k, covariance_type=self.covariance_type, max_iter=self.max_iter,
                                n_init=self.n_init, random_state=self.seed, reg_covar=1e-5,
                                means_init=start.centroids_.astype(np.float64))
        self.labels_ = model.fit_predict(vectors).astype(np.int64)
        self.probabilities_ = model.predict_proba(vectors).max(axis=1)
        self.n_clusters_ = self.k
        return self


CLUSTERERS = ("kmeans", "hdbscan", "agglomerative", "gmm", "gmm-full", "none")


def make_clusterer(name: str, k: int = 20, seed: int = 0, min_cluster_size: int = 15) -> Clusterer:
    """A clusterer by name (``kmeans``, ``hdbscan``, ``agglomerative``, ``gmm`` (diagonal covariances),
    ``gmm-full`` (full covariances, for a few UMAP dimensions), ``none``)."""
    if name == "kmeans":
        return KMeansClusterer(k, seed=seed)
    if name == "hdbscan":
        return HDBSCANClusterer(min_cluster_size)
    if name == "agglomerative":
        return AgglomerativeClusterer(k)
    if name == "gmm":
        return GaussianMixtureClusterer(k, seed=seed)
    if name == "gmm-full":
        return GaussianMixtureClusterer(k, covariance_type="full", seed=seed)
    if name == "none":
        return NoClustering()
    raise ConfigError(f"unknown clusterer {name!r}; use one of {', '.join(CLUSTERERS)}.")


def silhouette(vectors: np.ndarray, labels: np.ndarray, sample: int = 5000, seed: int = 0) -> float:
    """Silhouette coefficient (cosine for unit vectors, else Euclidean) on a sample, noise left out."""
    from sklearn.metrics import silhouette_score

    kept = labels >= 0
    vectors, labels = vectors[kept], labels[kept]
    if len(np.unique(labels)) < 2:
        return -1.0
    metric = "cosine" if _unit_rows(vectors) else "euclidean"
    size = min(sample, len(vectors))
    return float(silhouette_score(vectors, labels, metric=metric, sample_size=size, random_state=seed))


def choose_k(vectors: np.ndarray, candidates: Sequence[int], make: Callable[[int], Clusterer],
             score: Callable[[np.ndarray], float] | None = None) -> tuple[int, dict[int, float]]:
    """Fit ``make(k)`` for each candidate ``k`` and keep the best by ``score(labels)`` (default: silhouette).

    Returns ``(best_k, {k: score})``.
    """
    candidates = sorted({int(k) for k in candidates if 2 <= k <= len(vectors)})
    if not candidates:
        raise ConfigError(f"no candidate k between 2 and the {len(vectors)} items; give a smaller range.")
    scorer = score or (lambda labels: silhouette(vectors, labels))
    scores = {k: float(scorer(make(k).fit(vectors).labels_)) for k in candidates}
    best = max(candidates, key=lambda k: (scores[k], -k))
    return best, scores


def _unit_rows(vectors: np.ndarray) -> bool:
    norms = np.linalg.norm(vectors[: min(len(vectors), 256)], axis=1)
    return bool(len(norms)) and bool(np.allclose(norms, 1.0, atol=1e-3))
