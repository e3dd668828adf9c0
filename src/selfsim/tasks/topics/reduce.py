"""Dimensionality reduction, the first stage of the topic pipeline: none, PCA or UMAP.

Each reducer is an estimator with ``fit_transform(vectors) -> reduced``.
Clustering in a few UMAP dimensions often separates topics better than in
the encoder's 384 (density-based clusterers in particular suffer in high
dimensions); PCA is the fast, deterministic middle ground. UMAP is an optional
dependency of selfsim (the default topic pipeline uses it), imported only when used, since its first call
in a process spends tens of seconds compiling.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from selfsim.errors import ConfigError


@runtime_checkable
class Reducer(Protocol):
    """Maps (N, D) vectors to (N, d) vectors; ``fit_transform`` learns and applies the map."""

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Learn the reduction on ``vectors`` and return them reduced."""
        ...


class NoReduction:
    """The do-nothing reducer: vectors pass through unchanged."""

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Return ``vectors`` as float32."""
        self.n_components_ = vectors.shape[1]
        return np.asarray(vectors, dtype=np.float32)


class PCAReduction:
    """Principal components (scikit-learn PCA), optionally re-normalised to unit length.

    ``normalise`` keeps cosine geometry for the clusterers that follow, which
    suits sentence vectors; ``whiten`` rescales every component to unit variance.
    """

    def __init__(self, n_components: int = 50, whiten: bool = False, normalise: bool = True, seed: int = 0) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.normalise = normalise
        self.seed = seed

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Project onto the leading principal components."""
        from sklearn.decomposition import PCA

        components = min(self.n_components, vectors.shape[0], vectors.shape[1])
        if components < 1:
            raise ConfigError("PCA needs at least one item and one component.")
        self.model_ = PCA(n_components=components, whiten=self.whiten, random_state=self.seed,
                          svd_solver="randomized" if components < min(vectors.shape) // 2 else "full")
        reduced = self.model_.fit_transform(np.asarray(vectors, dtype=np.float32)).astype(np.float32)
        if self.normalise:
            reduced /= np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)
        self.n_components_ = components
        return reduced


class UMAPReduction:
    """UMAP (McInnes et al. 2018) with cosine distances on the input vectors.

    ``min_dist=0`` packs clusters tightly, which is what a clusterer wants (a
    2-D map for people reads better with ``min_dist=0.1``). ``pca_first``
    reduces to that many PCA dimensions before UMAP, which makes the
    neighbour search cheaper at little cost in quality.
    """

    def __init__(self, n_components: int = 5, n_neighbors: int = 15, min_dist: float = 0.0,
                 metric: str = "cosine", pca_first: int | None = None, seed: int | None = 0) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.pca_first = pca_first
        self.seed = seed

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Embed ``vectors`` in ``n_components`` UMAP dimensions."""
        umap = import_umap()
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) <= self.n_components + 1:
            raise ConfigError(f"UMAP needs more than {self.n_components + 1} items; use PCA or no reduction.")
        if self.pca_first is not None and self.pca_first < vectors.shape[1]:
            vectors = PCAReduction(self.pca_first, seed=self.seed or 0).fit_transform(vectors)
        self.model_ = umap.UMAP(n_components=self.n_components, n_neighbors=min(self.n_neighbors, len(vectors) - 1),
                                min_dist=self.min_dist, metric=self.metric, random_state=self.seed,
                                n_jobs=1 if self.seed is not None else -1)
        self.n_components_ = self.n_components
        return np.asarray(self.model_.fit_transform(vectors), dtype=np.float32)


def import_umap():  # noqa: ANN201 - returns the module
    """The ``umap`` module, or a clear error saying how to install it."""
    try:
        import umap  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ConfigError("UMAP is not installed; run pip install 'selfsim[umap]' (or umap-learn), "
                          "or choose --reduce pca.") from None
    return umap


REDUCERS = ("none", "pca", "umap", "auto")


def umap_installed() -> bool:
    """Whether the optional UMAP dependency can be imported."""
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def make_reducer(name: str, n_components: int | None = None, seed: int = 0, neighbors: int = 15) -> Reducer:
    """A reducer by name: ``none``, ``pca`` (50 dimensions by default), ``umap`` (5 by default, ``neighbors``
    nearest neighbours) or ``auto`` (UMAP when it is installed, else PCA)."""
    if name == "auto":
        name = "umap" if umap_installed() else "pca"
    if name == "none":
        return NoReduction()
    if name == "pca":
        return PCAReduction(n_components or 50, seed=seed)
    if name == "umap":
        return UMAPReduction(n_components or 5, n_neighbors=neighbors, seed=seed)
    raise ConfigError(f"unknown reduction {name!r}; use one of {', '.join(REDUCERS)}.")
