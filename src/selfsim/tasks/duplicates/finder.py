"""Duplicates: exact, semantic and lexical near-duplicate pairs, grouped, each group with an item to keep.

Three detectors, each optional:

* **exact** — texts equal after normalisation (case, spacing, punctuation,
  Unicode form), found by hashing; linear time.
* **semantic** — item vectors with cosine similarity at or above a threshold,
  found by a range search per item in a vector index, never an all-pairs
  matrix: for small collections a k-nearest-neighbour search in an exact
  FAISS index where ``k`` grows for the items whose ``k``-th neighbour is
  still above the threshold (so every pair is found); for large ones an
  inverted file (FAISS k-means) searched list by list against the nearest
  lists (:func:`partitioned_pairs`).
* **lexical** — MinHash / LSH over word shingles (:mod:`selfsim.tasks.duplicates.minhash`),
  for copy-paste with small edits that a meaning-based vector may not separate
  from a mere paraphrase.

Pairs are joined into groups: ``"components"`` (connected components: if a~b
and b~c, one group, even when a and c are not similar) or ``"centre"`` (star
groups: every member is itself a pair with the group's central item, so a
chain a~b~c is split). Each group suggests an item to keep.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import faiss
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from threadpoolctl import threadpool_limits

from selfsim.data.shingles import text_fingerprint
from selfsim.errors import ConfigError, NotFoundError
from selfsim.indexes import build_item_index
from selfsim.tasks.duplicates.minhash import MinHashConfig, MinHasher
from selfsim.threads import KMEANS_PARALLEL_WORK, faiss_threads_for

Grouping = Literal["components", "centre"]
KeepPolicy = Literal["longest", "shortest", "first", "last", "central"]

EXACT, SEMANTIC, LEXICAL = "exact", "semantic", "lexical"


@dataclass(frozen=True)
class DuplicatesConfig:
    """What counts as a duplicate and how pairs become groups.

    ``threshold`` is the cosine similarity at or above which two items are
    semantic duplicates (calibrate it on labelled pairs with
    :func:`selfsim.tasks.duplicates.calibration.calibrate_threshold`); ``neighbours`` is
    the first search depth per item; ``index`` a FAISS spec for the item index
    or ``"auto"``: exact (``Flat``) below ``exact_below`` items, above it an
    inverted file searched list by list with ``probe`` lists per list
    (:func:`partitioned_pairs`).
    """

    threshold: float = 0.9
    exact: bool = True
    semantic: bool = True
    lexical: bool = False
    lexical_threshold: float = 0.8
    shingle_size: int = 3
    num_perm: int = 128
    neighbours: int = 16
    index: str = "auto"
    probe: int = 16
    exact_below: int = 20_000
    grouping: Grouping = "components"
    keep: KeepPolicy = "longest"
    batch_size: int = 8192
    seed: int = 0

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"the threshold {self.threshold} is not a cosine similarity; "
                              "give a value between -1 and 1, such as 0.9.")
        if self.grouping not in ("components", "centre"):
            raise ConfigError(f"unknown grouping {self.grouping!r}; use components or centre.")
        if self.keep not in ("longest", "shortest", "first", "last", "central"):
            raise ConfigError(f"unknown keep policy {self.keep!r}; use longest, shortest, first, last or central.")
        if self.neighbours < 1:
            raise ConfigError("neighbours must be at least 1; try 16.")
        if not (self.exact or self.semantic or self.lexical):
            raise ConfigError("every detector is switched off; enable exact, semantic or lexical.")
        MinHashConfig(self.num_perm, self.shingle_size, self.lexical_threshold, self.seed)  # validates


@dataclass(frozen=True)
class DuplicatePair:
    """Two items judged duplicates, by which detectors, with their cosine (and Jaccard estimate)."""

    left: str
    right: str
    cosine: float | None
    jaccard: float | None
    kinds: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "kinds": list(self.kinds)}


@dataclass(frozen=True)
class DuplicateGroup:
    """A group of duplicates: its members (the kept one first), the suggested keeper and its centre.

    ``similarity`` maps each member to its cosine with the centre (None without vectors).
    """

    group: int
    members: tuple[str, ...]
    keep: str
    centre: str
    similarity: dict[str, float | None] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """How many items the group holds."""
        return len(self.members)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"group": self.group, "size": self.size, "keep": self.keep, "centre": self.centre,
                "members": list(self.members), "similarity": self.similarity}


# -- the detectors, on plain arrays --------------------------------------------------------------


def exact_pairs(texts: Sequence[str]) -> np.ndarray:
    """(M, 2) index pairs of texts equal after normalisation: a star from the first of each set."""
    buckets: dict[str, list[int]] = defaultdict(list)
    for index, text in enumerate(texts):
        buckets[text_fingerprint(text)].append(index)
    pairs = [(members[0], other) for members in buckets.values() for other in members[1:]]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def partitioned_pairs(vectors: np.ndarray, threshold: float, lists: int | None = None, probe: int = 16,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` with inner product >= ``threshold``, by a range search in an inverted file.

    The inverted file is FAISS spherical k-means with ``lists`` centroids (about ``sqrt(N * probe)``);
    each item belongs to its nearest centroid. The items of one list are searched together against
    the items of the ``probe`` lists whose centroids are nearest that list's centroid, as one
    matrix product, so the scan runs at BLAS speed (per-query IVF scanning was ~15 times slower per
    comparison here). A pair is missed only when neither item's list probes the other's, which for
    near-duplicates (two items closer than either is to most of its list) is rare; the scale
    benchmark measures the recall.
    """
    count, dim = vectors.shape
    # Assigning items costs N * lists, the join N * (N / lists) * probe: balanced at sqrt(N * probe).
    lists = lists or max(1, 2 ** round(math.log2(math.sqrt(count * max(probe, 1)))))
    lists = min(lists, count)
    probe = min(probe, lists)
    rng = np.random.default_rng(seed)
    # A rough partition is enough (every near pair only needs to fall in nearby lists), so k-means
    # trains briefly on a small sample: its cost grows with lists squared.
    sample = vectors[rng.choice(count, min(count, 16 * lists), replace=False)]
    kmeans = faiss.Kmeans(dim, lists, niter=6, spherical=True, seed=seed, max_points_per_centroid=16,
                          min_points_per_centroid=1)
    with faiss_threads_for(float(len(sample)) * lists * dim * 6, KMEANS_PARALLEL_WORK):
        kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
    _, assigned = kmeans.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    assigned = assigned.ravel()
    order = np.argsort(assigned, kind="stable")
    ordered = np.ascontiguousarray(vectors[order], dtype=np.float32)
    bounds = np.r_[0, np.cumsum(np.bincount(assigned, minlength=lists))]
    centroids = kmeans.centroids
    nearest = np.argsort(-(centroids @ centroids.T), axis=1)[:, :probe]  # each list's own first
    lefts, rights, scores = [], [], []
    # The products are small (one list against a few thousand candidates); several BLAS threads
    # only wait on each other there.
    with threadpool_limits(1, user_api="blas"):
        for home in range(lists):
            start, end = bounds[home], bounds[home + 1]
            if start == end:
                continue
            candidates = np.concatenate([np.arange(bounds[n], bounds[n + 1]) for n in nearest[home]])
            similarity = ordered[start:end] @ ordered[candidates].T
            rows, cols = np.nonzero(similarity >= threshold)
            left, right = start + rows, candidates[cols]
            keep = left != right
            lefts.append(left[keep])
            rights.append(right[keep])
            scores.append(similarity[rows[keep], cols[keep]])
    if not lefts:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    left, right = order[np.concatenate(lefts)], order[np.concatenate(rights)]
    pairs = np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1).astype(np.int64)
    pairs, unique = np.unique(pairs, axis=0, return_index=True)
    return pairs.reshape(-1, 2), np.concatenate(scores)[unique].astype(np.float32)


def semantic_pairs(vectors: np.ndarray, threshold: float, neighbours: int = 16, index: faiss.Index | None = None,
                   batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Every index pair ``i < j`` whose vectors have inner product >= ``threshold``, and those scores.

    A ``neighbours``-nearest search per item; items whose last neighbour is still at or above the
    threshold are searched again four times deeper, until each item's list ends below the threshold.
    """
    count = len(vectors)
    if count < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    index = index if index is not None else build_item_index(vectors, "Flat")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    lefts, rights, scores = [], [], []
    pending = np.arange(count)
    depth = min(count, neighbours + 1)  # +1: an item finds itself
    while len(pending):
        unfinished = []
        for first in range(0, len(pending), batch_size):
            rows = pending[first:first + batch_size]
            found_scores, found_ids = index.search(vectors[rows], depth)
            hit = (found_scores >= threshold) & (found_ids > rows[:, None])  # each pair once, from its lower end
            where = np.nonzero(hit)
            lefts.append(rows[where[0]])
            rights.append(found_ids[where])
            scores.append(found_scores[where])
            if depth < count:
                unfinished.append(rows[found_scores[:, -1] >= threshold])
        pending = np.concatenate(unfinished) if unfinished else np.zeros(0, dtype=np.int64)
        if len(pending):
            # The deeper search repeats the shallow hits; drop them from what was collected so far.
            redo = np.isin(np.concatenate(lefts), pending)
            lefts, rights, scores = ([np.concatenate(lefts)[~redo]], [np.concatenate(rights)[~redo]],
                                     [np.concatenate(scores)[~redo]])
            depth = min(count, depth * 4)
    left, right = np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)
    pairs = np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1)
    pairs, unique = np.unique(pairs, axis=0, return_index=True)
    return pairs.reshape(-1, 2), np.concatenate(scores)[unique].astype(np.float32)


def group_pairs(count: int, pairs: np.ndarray, weights: np.ndarray | None = None,
                grouping: Grouping = "components") -> list[tuple[np.ndarray, int]]:
    """Groups of two or more indices joined by ``pairs``, each with its central member.

    The centre is the member with the largest summed pair weight inside its group. Under
    ``"centre"`` grouping each group is a star: the best-connected remaining item and those of
    its partners not yet taken, repeated until no pair is left.
    """
    if len(pairs) == 0:
        return []
    weights = np.ones(len(pairs), dtype=np.float64) if weights is None else weights.astype(np.float64)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    graph = coo_matrix((np.concatenate([weights, weights]), (both[:, 0], both[:, 1])), shape=(count, count)).tocsr()
    strength = np.asarray(graph.sum(axis=1)).ravel()
    _, labels = connected_components(graph, directed=False)
    members_of: dict[int, list[int]] = defaultdict(list)
    for node in np.unique(pairs):
        members_of[int(labels[node])].append(int(node))
    groups: list[tuple[np.ndarray, int]] = []
    for members in members_of.values():
        nodes = np.array(members)
        if grouping == "components":
            groups.append((nodes, int(nodes[np.argmax(strength[nodes])])))
            continue
        taken: set[int] = set()
        for centre in nodes[np.argsort(-strength[nodes], kind="stable")]:
            if int(centre) in taken:
                continue
            partners = [int(p) for p in graph.indices[graph.indptr[centre]:graph.indptr[centre + 1]]
                        if int(p) not in taken]
            if partners:
                star = np.array([int(centre), *partners])
                taken.update(star.tolist())
                groups.append((star, int(centre)))
    return groups


# -- the estimator -------------------------------------------------------------------------------


class DuplicateFinder:
    """Estimator: duplicate pairs and groups among items given as ids, unit vectors and texts.

    ``fit(ids, vectors, texts)`` sets ``pairs_`` (list of :class:`DuplicatePair`),
    ``groups_`` (list of :class:`DuplicateGroup`, largest first), ``counts_`` (pairs per
    detector) and ``seconds_`` (time per stage). Either ``vectors`` or ``texts`` may be None
    when the detectors that need them are off.
    """

    def __init__(self, config: DuplicatesConfig = DuplicatesConfig()) -> None:
        self.config = config

    def fit(self, ids: Sequence[str], vectors: np.ndarray | None = None,
            texts: Sequence[str] | None = None) -> DuplicateFinder:
        """Find the pairs and the groups."""
        config = self.config
        count = len(ids)
        if count == 0:
            raise NotFoundError("there are no items to compare; index some items first (or loosen the filter).")
        if config.semantic and vectors is None:
            raise ConfigError("semantic duplicates need vectors; pass them or switch semantic off.")
        if (config.exact or config.lexical or config.keep in ("longest", "shortest")) and texts is None:
            raise ConfigError("exact and lexical duplicates (and keep=longest/shortest) need the texts.")
        if vectors is not None and len(vectors) != count or texts is not None and len(texts) != count:
            raise ConfigError("ids, vectors and texts must have the same length.")
        seconds: dict[str, float] = {}
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if config.exact:
            started = time.perf_counter()
            pairs = exact_pairs(texts)  # type: ignore[arg-type]
            found[EXACT] = (pairs, np.ones(len(pairs), dtype=np.float32))
            seconds[EXACT] = time.perf_counter() - started
        if config.semantic:
            started = time.perf_counter()
            assert vectors is not None
            if config.index == "auto" and count >= config.exact_below:
                found[SEMANTIC] = partitioned_pairs(vectors, config.threshold, probe=config.probe, seed=config.seed)
            else:
                spec = "Flat" if config.index == "auto" else config.index
                with faiss_threads_for(float(count) * count * vectors.shape[1]):
                    index = build_item_index(vectors, spec, config.seed)
                    seconds["index"] = time.perf_counter() - started
                    started = time.perf_counter()
                    found[SEMANTIC] = semantic_pairs(vectors, config.threshold, config.neighbours, index,
                                                     config.batch_size)
            seconds[SEMANTIC] = time.perf_counter() - started
        if config.lexical:
            started = time.perf_counter()
            hasher = MinHasher(MinHashConfig(config.num_perm, config.shingle_size, config.lexical_threshold,
                                             config.seed)).fit(texts)  # type: ignore[arg-type]
            found[LEXICAL] = (hasher.pairs_, hasher.similarities_)
            seconds[LEXICAL] = time.perf_counter() - started
        started = time.perf_counter()
        self.counts_ = {kind: len(pairs) for kind, (pairs, _) in found.items()}
        self._merge(ids, vectors, texts, found)
        seconds["grouping"] = time.perf_counter() - started
        self.seconds_ = seconds
        return self

    def _merge(self, ids: Sequence[str], vectors: np.ndarray | None, texts: Sequence[str] | None,
               found: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        kinds: dict[tuple[int, int], list[str]] = defaultdict(list)
        jaccards: dict[tuple[int, int], float] = {}
        for kind, (pairs, scores) in found.items():
            for (a, b), score in zip(pairs.tolist(), scores.tolist(), strict=True):
                key = (min(a, b), max(a, b))
                kinds[key].append(kind)
                if kind == LEXICAL:
                    jaccards[key] = score
        keys = np.array(sorted(kinds), dtype=np.int64).reshape(-1, 2)
        cosines = (np.einsum("ij,ij->i", vectors[keys[:, 0]], vectors[keys[:, 1]])
                   if vectors is not None and len(keys) else None)
        self.pairs_ = [
            DuplicatePair(ids[a], ids[b], None if cosines is None else round(float(cosines[n]), 6),
                          jaccards.get((a, b)), tuple(kinds[(a, b)]))
            for n, (a, b) in enumerate(keys.tolist())]
        weights = cosines if cosines is not None else None
        groups = group_pairs(len(ids), keys, weights, self.config.grouping)
        built = []
        for members, centre in groups:
            keep = self._keeper(members, centre, texts)
            if vectors is not None:
                similarity = vectors[members] @ vectors[centre]
                similarity_of = {ids[m]: round(float(s), 6) for m, s in zip(members.tolist(), similarity, strict=True)}
            else:
                similarity_of = {ids[m]: None for m in members.tolist()}
            order = [keep] + sorted((int(m) for m in members if m != keep), key=lambda m: -(similarity_of[ids[m]] or 0))
            built.append((tuple(ids[m] for m in order), ids[keep], ids[centre], similarity_of))
        built.sort(key=lambda g: (-len(g[0]), g[1]))
        self.groups_ = [DuplicateGroup(number, members, keep, centre, similarity)
                        for number, (members, keep, centre, similarity) in enumerate(built, start=1)]

    def _keeper(self, members: np.ndarray, centre: int, texts: Sequence[str] | None) -> int:
        policy = self.config.keep
        if policy == "central":
            return centre
        if policy == "first":
            return int(members.min())
        if policy == "last":
            return int(members.max())
        assert texts is not None
        lengths = np.array([len(texts[m]) for m in members])
        # Ties go to the earliest item, so the suggestion is stable from run to run.
        pick = np.lexsort((members, -lengths if policy == "longest" else lengths))[0]
        return int(members[pick])

    @property
    def duplicates_(self) -> list[str]:
        """Ids a user could remove: every group member except its suggested keeper."""
        return [member for group in self.groups_ for member in group.members if member != group.keep]
