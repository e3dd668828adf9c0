"""The topic pipeline: reduce -> cluster -> keywords, each stage swappable, BERTopic-style.

>>> model = TopicModel(PCAReduction(50), KMeansClusterer(k=20), ClassTfidf()).fit(vectors, texts)  # doctest: +SKIP
>>> model.topics_[0].keywords                                                                     # doctest: +SKIP

Every stage has a do-nothing version (:class:`~selfsim.tasks.topics.reduce.NoReduction`,
:class:`~selfsim.tasks.topics.clusters.NoClustering`, :class:`~selfsim.tasks.topics.keywords.NoKeywords`).
:func:`fit_topics` builds the stages from a :class:`TopicConfig` and picks ``k``
itself when none is given; :mod:`selfsim.tasks.topics.collection` runs it over a
collection and writes cluster ids and keywords back as metadata.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from selfsim.errors import ConfigError, NotFoundError
from selfsim.tasks.topics.assign import AssignConfig, TopicAssigner
from selfsim.tasks.topics.clusters import CLUSTERERS, Clusterer, KMeansClusterer, choose_k, make_clusterer, silhouette
from selfsim.tasks.topics.coherence import CoherenceConfig, npmi_coherence, topic_diversity
from selfsim.tasks.topics.hierarchy import TopicHierarchy, build_hierarchy
from selfsim.tasks.topics.keywords import ClassTfidf, KeywordExtractor, VocabularyConfig, count_words, representatives
from selfsim.tasks.topics.reduce import REDUCERS, NoReduction, Reducer, make_reducer, umap_installed

KSelection = Literal["silhouette", "coherence"]

# The default pipeline (reduce="auto", cluster="auto"), chosen on 20 Newsgroups train (benchmarks/clustering_20ng.py
# --sweep, three seeds): UMAP to 5 dimensions with 50 neighbours, then k-means, scored V-measure 67.1-68.0, against
# 61.5 for PCA + k-means; a Gaussian mixture after UMAP was as good on some seeds and 3 points worse on another.
# Below UMAP_MIN_ITEMS items UMAP's neighbour graph has too little to work with (and its first call compiles for
# tens of seconds), so small collections get PCA 50 + k-means.
UMAP_MIN_ITEMS = 1000
AUTO_AFTER_UMAP = "kmeans"
AUTO_AFTER_PCA = "kmeans"


@dataclass(frozen=True)
class TopicConfig:
    """The stages by name and their main settings.

    ``auto`` stages pick themselves by the number of items (see :meth:`resolved`).
    ``k=None`` picks k from ``k_range`` (start, stop, step; stop included) by
    ``select_by``; HDBSCAN and ``none`` ignore k. ``reduce_dims=None`` uses the
    reducer's default (50 for PCA, 5 for UMAP); ``umap_neighbors`` is UMAP's neighbourhood size.
    ``reduce_to`` merges the closest topics (words and centres, mixed by ``merge_word_weight``) until
    that many remain.
    """

    reduce: str = "auto"
    reduce_dims: int | None = None
    cluster: str = "auto"
    k: int | None = None
    k_range: tuple[int, int, int] = (5, 40, 5)
    select_by: KSelection = "silhouette"
    min_cluster_size: int = 15
    top_words: int = 10
    representatives: int = 3
    seed: int = 0
    reduce_to: int | None = None
    merge_word_weight: float = 0.5
    umap_neighbors: int = 50

    def __post_init__(self) -> None:
        if self.umap_neighbors < 2:
            raise ConfigError(f"umap_neighbors must be at least 2, not {self.umap_neighbors}.")
        if self.reduce_to is not None and self.reduce_to < 1:
            raise ConfigError(f"reduce_to must be at least 1, not {self.reduce_to}.")
        if not 0.0 <= self.merge_word_weight <= 1.0:
            raise ConfigError(f"merge_word_weight must be between 0 and 1, not {self.merge_word_weight}.")
        if self.k is not None and self.k < 1:
            raise ConfigError(f"k must be at least 1, not {self.k}.")
        if self.reduce not in REDUCERS:
            raise ConfigError(f"unknown reduction {self.reduce!r}; use one of {', '.join(REDUCERS)}.")
        if self.cluster not in CLUSTERERS and self.cluster != "auto":
            raise ConfigError(f"unknown clusterer {self.cluster!r}; use one of {', '.join(CLUSTERERS)}.")
        if self.select_by not in ("silhouette", "coherence"):
            raise ConfigError(f"unknown k selection {self.select_by!r}; use silhouette or coherence.")
        start, stop, step = self.k_range
        if not (2 <= start <= stop and step >= 1):
            raise ConfigError("k_range must be (start, stop, step) with 2 <= start <= stop and step >= 1.")

    @property
    def uses_k(self) -> bool:
        """Whether the clusterer takes a number of clusters."""
        return self.cluster in ("kmeans", "agglomerative", "gmm", "gmm-full", "auto")

    def resolved(self, count: int) -> TopicConfig:
        """The concrete stages for ``count`` items: an ``auto`` reduction is UMAP (5 dimensions) from
        ``UMAP_MIN_ITEMS`` items on when UMAP is installed, else PCA (50); an ``auto`` clusterer is k-means
        (``AUTO_AFTER_UMAP`` after UMAP, ``AUTO_AFTER_PCA`` otherwise)."""
        reduce = self.reduce
        if reduce == "auto":
            reduce = "umap" if count >= UMAP_MIN_ITEMS and umap_installed() else "pca"
        cluster = self.cluster
        if cluster == "auto":
            cluster = AUTO_AFTER_UMAP if reduce == "umap" else AUTO_AFTER_PCA
        return replace(self, reduce=reduce, cluster=cluster)


@dataclass(frozen=True)
class Topic:
    """One cluster: its id, size, keywords (best first) and representative item ids."""

    cluster: int
    size: int
    keywords: list[str]
    weights: list[float]
    representatives: list[str]

    @property
    def label(self) -> str:
        """A short name: the first three keywords."""
        return " ".join(self.keywords[:3]) if self.keywords else f"cluster {self.cluster}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "label": self.label}


class TopicModel:
    """Estimator: reduce -> cluster -> keywords over item vectors and their texts.

    ``fit(vectors, texts, ids)`` sets ``reduced_`` (what was clustered), ``labels_`` (N,) with -1
    for noise, ``topics_`` (list of :class:`Topic`, largest first), ``noise_`` (how many items
    no cluster took) and ``seconds_`` per stage. ``texts`` may be None when keywords are off.
    """

    def __init__(self, reducer: Reducer | None = None, clusterer: Clusterer | None = None,
                 keywords: KeywordExtractor | None = None, n_representatives: int = 3) -> None:
        self.reducer = reducer
        self.clusterer = clusterer
        self.keywords = keywords
        self.n_representatives = n_representatives

    def fit(self, vectors: np.ndarray, texts: Sequence[str] | None = None,
            ids: Sequence[str] | None = None) -> TopicModel:
        """Run the three stages."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 0:
            raise NotFoundError("there are no items to cluster; index some items first (or loosen the filter).")
        ids = list(ids) if ids is not None else [str(i) for i in range(len(vectors))]
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        self.reduced_ = (self.reducer or NoReduction()).fit_transform(vectors)
        seconds["reduce"] = time.perf_counter() - started
        started = time.perf_counter()
        clusterer = self.clusterer or KMeansClusterer()
        self.labels_ = np.asarray(clusterer.fit(self.reduced_).labels_, dtype=np.int64)
        seconds["cluster"] = time.perf_counter() - started
        started = time.perf_counter()
        keywords: dict[int, list[tuple[str, float]]] = {}
        if self.keywords is not None:
            if texts is None:
                raise ConfigError("keywords need the texts; pass them or use NoKeywords.")
            keywords = self.keywords.fit(texts, self.labels_).keywords_
        seconds["keywords"] = time.perf_counter() - started
        chosen = representatives(vectors, self.labels_, self.n_representatives)
        sizes = np.bincount(self.labels_[self.labels_ >= 0]) if (self.labels_ >= 0).any() else np.zeros(0)
        topics = [Topic(int(c), int(sizes[c]), [w for w, _ in keywords.get(int(c), [])],
                        [s for _, s in keywords.get(int(c), [])], [ids[i] for i in chosen.get(int(c), [])])
                  for c in np.unique(self.labels_) if c >= 0]
        self.topics_ = sorted(topics, key=lambda t: (-t.size, t.cluster))
        self.noise_ = int((self.labels_ < 0).sum())
        self.seconds_ = seconds
        return self

    def topic(self, cluster: int) -> Topic | None:
        """The topic with this cluster id, or None (noise, or no such cluster)."""
        return next((t for t in self.topics_ if t.cluster == cluster), None)


@dataclass
class TopicResult:
    """A fitted model with what was measured on the way: the k scores and the quality figures."""

    model: TopicModel
    ids: list[str]
    k: int | None
    k_scores: dict[int, float] = field(default_factory=dict)
    coherence: float | None = None
    diversity: float | None = None
    silhouette: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    hierarchy: TopicHierarchy | None = None  # the merge order of the topics as first found
    merged_from: dict[int, list[int]] = field(default_factory=dict)  # with reduce_to: topic -> the topics it took
    vectors: np.ndarray | None = field(default=None, repr=False)  # the clustered items' vectors, for assign()
    config: TopicConfig | None = None  # the stages as run (``auto`` resolved)

    def assigner(self, config: AssignConfig = AssignConfig()) -> TopicAssigner:
        """A :class:`TopicAssigner` that gives new items these topics (needs the vectors the fit saw)."""
        if self.vectors is None:
            raise ConfigError("this result does not hold the clustered vectors; fit it again with fit_topics.")
        return TopicAssigner(config).fit(self.vectors, self.model.labels_)

    def to_dict(self, include_labels: bool = False) -> dict[str, Any]:
        """JSON-ready summary (with per-item labels when asked)."""
        data: dict[str, Any] = {
            "items": len(self.ids), "clusters": len(self.model.topics_), "noise": self.model.noise_, "k": self.k,
            "pipeline": None if self.config is None else {"reduce": self.config.reduce, "cluster": self.config.cluster,
                                                          "dims": self.config.reduce_dims},
            "k_scores": {str(k): round(v, 4) for k, v in self.k_scores.items()},
            "coherence_npmi": None if self.coherence is None else round(self.coherence, 4),
            "diversity": None if self.diversity is None else round(self.diversity, 4),
            "silhouette": None if self.silhouette is None else round(self.silhouette, 4),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "topics": [t.to_dict() for t in self.model.topics_]}
        if self.merged_from:
            data["merged_from"] = {str(k): v for k, v in self.merged_from.items()}
        if self.hierarchy is not None:
            data["hierarchy"] = self.hierarchy.to_dict()
        if include_labels:
            data["labels"] = dict(zip(self.ids, self.model.labels_.tolist(), strict=True))
        return data


def fit_topics(vectors: np.ndarray, texts: Sequence[str], ids: Sequence[str] | None = None,
               config: TopicConfig = TopicConfig(), measure: bool = True) -> TopicResult:
    """Build the stages from ``config``, choose k if needed, fit, and measure coherence and diversity."""
    count = len(vectors)
    if count == 0:
        raise NotFoundError("there are no items to cluster; index some items first (or loosen the filter).")
    if config.k is not None and config.uses_k and config.k > count:
        raise ConfigError(f"k={config.k} is larger than the {count} items to cluster; choose k of at most {count}.")
    config = config.resolved(count)
    started = time.perf_counter()
    reducer = make_reducer(config.reduce, config.reduce_dims, config.seed, config.umap_neighbors)
    reduced = reducer.fit_transform(np.asarray(vectors, dtype=np.float32))
    seconds = {"reduce": time.perf_counter() - started}
    vocabulary = VocabularyConfig()
    counts, words = count_words(texts, vocabulary)
    keywords = _SharedCounts(ClassTfidf(config.top_words, vocabulary), counts, words)
    k, k_scores = config.k, {}
    if config.uses_k and k is None:
        started = time.perf_counter()
        start, stop, step = config.k_range
        candidates = [c for c in range(start, stop + 1, step) if c <= count]
        if config.select_by == "coherence":
            def score(labels: np.ndarray) -> float:
                found = keywords.fit(texts, labels).keywords_
                return npmi_coherence([[w for w, _ in found[c]] for c in found], texts)[0]
        else:
            score = None  # type: ignore[assignment]
        k, k_scores = choose_k(reduced, candidates, lambda c: make_clusterer(config.cluster, c, config.seed),
                               score)
        seconds["choose_k"] = time.perf_counter() - started
    clusterer = make_clusterer(config.cluster, k or 1, config.seed, config.min_cluster_size)
    model = TopicModel(_Reduced(reduced), clusterer, keywords, config.representatives)
    model.fit(vectors, texts, ids)
    seconds.update({name: value for name, value in model.seconds_.items() if name != "reduce"})
    hierarchy, merged_from = None, {}
    if len(model.topics_) > 1:
        started = time.perf_counter()
        hierarchy = build_hierarchy(counts, words, vectors, model.labels_, config.merge_word_weight)
        if config.reduce_to is not None and config.reduce_to < len(model.topics_):
            groups = hierarchy.groups(config.reduce_to)
            merged = np.asarray([groups.get(int(c), -1) if c >= 0 else -1 for c in model.labels_], dtype=np.int64)
            model = TopicModel(_Reduced(reduced), _FixedLabels(merged), keywords, config.representatives)
            model.fit(vectors, texts, ids)
            merged_from = {g: sorted(c for c, group in groups.items() if group == g) for g in set(groups.values())}
        seconds["hierarchy"] = time.perf_counter() - started
    result = TopicResult(model, list(ids) if ids is not None else [str(i) for i in range(count)], k, k_scores,
                         seconds=seconds, hierarchy=hierarchy, merged_from=merged_from,
                         vectors=np.asarray(vectors, dtype=np.float32), config=config)
    if measure:
        started = time.perf_counter()
        measure_topics(result, texts)
        seconds["measure"] = time.perf_counter() - started
    return result


def measure_topics(result: TopicResult, texts: Sequence[str], sample: int = 5000) -> None:
    """Fill in NPMI coherence, topic diversity and silhouette (on a sample) for a fitted result."""
    topics = [t.keywords for t in result.model.topics_ if t.keywords]
    if topics:
        result.coherence = npmi_coherence(topics, texts, CoherenceConfig())[0]
        result.diversity = topic_diversity(topics)
    if len(result.model.topics_) > 1:
        result.silhouette = silhouette(result.model.reduced_, result.model.labels_, sample=sample)


class _Reduced:
    """A reducer that hands back vectors reduced earlier (the k search needed them first)."""

    def __init__(self, reduced: np.ndarray) -> None:
        self.reduced = reduced

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        return self.reduced


class _FixedLabels:
    """A clusterer that hands back labels found earlier (the topics after merging)."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels_ = labels

    def fit(self, vectors: np.ndarray) -> _FixedLabels:
        return self


class _SharedCounts:
    """A c-TF-IDF stage that reuses one word-count matrix across the many fits of a k search."""

    def __init__(self, inner: ClassTfidf, counts: Any, words: np.ndarray) -> None:
        self.inner, self.counts, self.words = inner, counts, words
        self.keywords_: dict[int, list[tuple[str, float]]] = {}

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> _SharedCounts:
        self.keywords_ = self.inner.fit(texts, labels, self.counts, self.words).keywords_
        return self
