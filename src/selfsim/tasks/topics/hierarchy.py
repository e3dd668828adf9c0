"""Which topics are alike: merging the closest topics one pair at a time, the merge tree, and ``reduce_to``.

Two topics are close when their words are (cosine of their c-TF-IDF rows) and their items are (cosine
of their mean vectors in the encoder's space); ``word_weight`` mixes the two. The closest pair merges
into one topic whose words and mean are recomputed from its members (the c-TF-IDF of the merged
word counts, the size-weighted mean), and the search goes on until one topic is left. The order of
the merges is the topic hierarchy (BERTopic's ``hierarchical_topics``); applying the first ``n - k``
of them is ``reduce_to=k`` (BERTopic's ``reduce_topics``), so the two always agree.

>>> tree = build_hierarchy(counts, words, vectors, labels)      # doctest: +SKIP
>>> tree.groups(5)                                               # doctest: +SKIP  # {cluster: merged group}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from selfsim.errors import ConfigError
from selfsim.tasks.topics.keywords import class_tfidf, topic_word_counts


@dataclass(frozen=True)
class Merge:
    """One step: nodes ``left`` and ``right`` became ``node`` (leaves are 0..L-1, merges L, L+1, ...) at this
    ``similarity``, holding ``size`` items, named by ``keywords``."""

    left: int
    right: int
    node: int
    similarity: float
    size: int
    keywords: list[str]


@dataclass
class TopicHierarchy:
    """The merge order over the topics ``clusters`` (leaf ``i`` is cluster ``clusters[i]``)."""

    clusters: list[int]
    sizes: list[int]
    keywords: list[list[str]]
    merges: list[Merge] = field(default_factory=list)

    def groups(self, k: int) -> dict[int, int]:
        """``{cluster: group}`` after merging down to ``k`` topics; groups are numbered 0..k-1, largest first."""
        leaves = len(self.clusters)
        if k < 1:
            raise ConfigError(f"reduce_to must be at least 1, not {k}.")
        parent = list(range(leaves + len(self.merges)))

        def root(node: int) -> int:
            while parent[node] != node:
                node = parent[node]
            return node

        for merge in self.merges[:max(0, leaves - k)]:
            parent[merge.left] = parent[merge.right] = merge.node
        roots = [root(i) for i in range(leaves)]
        size_of: dict[int, int] = {}
        for leaf, node in enumerate(roots):
            size_of[node] = size_of.get(node, 0) + self.sizes[leaf]
        order = sorted(size_of, key=lambda node: (-size_of[node], node))
        number = {node: i for i, node in enumerate(order)}
        return {self.clusters[leaf]: number[node] for leaf, node in enumerate(roots)}

    def linkage(self) -> np.ndarray:
        """A SciPy linkage matrix ``(L-1, 4)``: left, right, height (1 - similarity, made non-decreasing so a
        dendrogram can draw it), and how many topics (leaves) the merged node holds."""
        heights = np.maximum.accumulate([1.0 - m.similarity for m in self.merges]) if self.merges else []
        leaves = len(self.clusters)
        count = [1] * leaves
        for merge in self.merges:
            count.append(count[merge.left] + count[merge.right])
        return np.asarray([[m.left, m.right, h, count[leaves + i]]
                           for i, (m, h) in enumerate(zip(self.merges, heights, strict=True))],
                          dtype=np.float64).reshape(-1, 4)

    def label(self, node: int) -> str:
        """The first three keywords of a leaf or merged node."""
        leaves = len(self.clusters)
        words = self.keywords[node] if node < leaves else self.merges[node - leaves].keywords
        return " ".join(words[:3]) if words else (f"topic {self.clusters[node]}" if node < leaves else f"node {node}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the leaves (cluster, size, keywords) and the merges in order."""
        return {"leaves": [{"node": i, "cluster": c, "size": s, "keywords": w}
                           for i, (c, s, w) in enumerate(zip(self.clusters, self.sizes, self.keywords, strict=True))],
                "merges": [{**asdict(m), "similarity": round(m.similarity, 4)} for m in self.merges]}


def _rows_unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def build_hierarchy(counts: sparse.csr_matrix, words: np.ndarray, vectors: np.ndarray, labels: np.ndarray,
                    word_weight: float = 0.5, top_words: int = 5) -> TopicHierarchy:
    """Merge the topics in ``labels`` (noise, -1, left out) pairwise, closest first, down to one.

    ``counts`` (N, V) are the items' word counts over ``words``; ``vectors`` (N, D) their encoder vectors.
    """
    if not 0.0 <= word_weight <= 1.0:
        raise ConfigError(f"word_weight must be between 0 and 1, not {word_weight}.")
    labels = np.asarray(labels, dtype=np.int64)
    clusters, per_topic = topic_word_counts(counts, labels)  # (L, V) word counts per topic
    kept = labels >= 0
    rows = np.searchsorted(clusters, labels[kept])
    vectors = _rows_unit(np.asarray(vectors, dtype=np.float64))
    sums = np.zeros((len(clusters), vectors.shape[1]))
    np.add.at(sums, rows, vectors[kept])  # (L, D) sums of unit vectors: merged means stay size-weighted
    sizes = np.bincount(rows, minlength=len(clusters)).astype(np.int64)
    word_rows = per_topic.tolil()
    weights = class_tfidf(per_topic)
    keywords = [_top(weights.getrow(i), words, top_words) for i in range(len(clusters))]
    tree = TopicHierarchy([int(c) for c in clusters], sizes.tolist(), keywords)
    alive = list(range(len(clusters)))  # node ids of the current topics
    node_rows = {i: i for i in range(len(clusters))}  # node -> row in the working arrays
    next_node = len(clusters)
    while len(alive) > 1:
        live_rows = [node_rows[n] for n in alive]
        current = sparse.csr_matrix(word_rows[live_rows])
        tfidf = class_tfidf(current).toarray()
        similarity = word_weight * (_rows_unit(tfidf) @ _rows_unit(tfidf).T)
        similarity += (1.0 - word_weight) * (_rows_unit(sums[live_rows]) @ _rows_unit(sums[live_rows]).T)
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        a, b = sorted((int(a), int(b)))
        left, right = alive[a], alive[b]
        row_a, row_b = node_rows[left], node_rows[right]
        # the merged topic reuses the left row: its counts, vector sums and size are the members' totals
        word_rows[row_a] = word_rows[row_a] + word_rows[row_b]
        sums[row_a] += sums[row_b]
        sizes[row_a] += sizes[row_b]
        merged_words = _merged_keywords(word_rows, [node_rows[n] for n in alive if n != right], row_a, words,
                                        top_words)
        tree.merges.append(Merge(left, right, next_node, float(similarity[a, b]), int(sizes[row_a]), merged_words))
        node_rows[next_node] = row_a
        alive = [n for n in alive if n not in (left, right)] + [next_node]
        next_node += 1
    return tree


def _merged_keywords(word_rows: sparse.lil_matrix, live_rows: list[int], row: int, words: np.ndarray,
                     top_words: int) -> list[str]:
    # the merged topic's words are weighed against the topics still standing beside it
    weights = class_tfidf(sparse.csr_matrix(word_rows[live_rows]))
    return _top(weights.getrow(live_rows.index(row)), words, top_words)


def _top(row: sparse.csr_matrix, words: np.ndarray, top_words: int) -> list[str]:
    values, columns = row.data, row.indices
    best = np.argsort(-values, kind="stable")[:top_words]
    return [str(words[columns[i]]) for i in best]
