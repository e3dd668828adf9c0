"""Keywords per cluster by class-based TF-IDF, and the items that represent each cluster.

Class-based TF-IDF (c-TF-IDF, as in BERTopic, Grootendorst 2022) treats all
texts of a cluster as one document: a word weighs ``tf(word, cluster) *
log(1 + A / f(word))``, with ``tf`` the word's share of the cluster's words,
``f`` its count over all clusters and ``A`` the mean number of words per
cluster. Words frequent in one cluster and rare elsewhere come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import sparse

from selfsim.errors import ConfigError

# Words: two or more letters (numbers, e-mail fragments and stray symbols make poor topic labels).
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"


@dataclass(frozen=True)
class VocabularyConfig:
    """How texts become word counts for keywords, coherence and the LDA/LSA baselines.

    ``min_df``/``max_df`` drop words in fewer than that many texts / more than that share of texts.
    """

    stop_words: str | None = "english"
    min_df: int | float = 2
    max_df: float = 0.5
    max_features: int | None = 50_000
    token_pattern: str = TOKEN_PATTERN
    lowercase: bool = True

    def vectorizer(self, count: int):  # noqa: ANN201 - a scikit-learn CountVectorizer
        """A CountVectorizer with these settings (``min_df`` relaxed to 1 for tiny corpora)."""
        from sklearn.feature_extraction.text import CountVectorizer

        min_df = self.min_df if count >= 50 else 1
        max_df = self.max_df if count >= 50 else 1.0
        return CountVectorizer(stop_words=self.stop_words, min_df=min_df, max_df=max_df,
                               max_features=self.max_features, token_pattern=self.token_pattern,
                               lowercase=self.lowercase)


def count_words(texts: Sequence[str], config: VocabularyConfig = VocabularyConfig()
                ) -> tuple[sparse.csr_matrix, np.ndarray]:
    """``(counts, vocabulary)``: an (N, V) sparse count matrix and the V words."""
    vectorizer = config.vectorizer(len(texts))
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # scikit-learn's "empty vocabulary": only stop words or numbers
        raise ConfigError("the texts hold no words to count after stop words are removed; "
                          "check the text field or relax the vocabulary settings.") from None
    return counts.tocsr(), vectorizer.get_feature_names_out()


@runtime_checkable
class KeywordExtractor(Protocol):
    """Labels clusters with words: ``fit(texts, labels)`` sets ``keywords_`` {cluster: [(word, weight)]}."""

    keywords_: dict[int, list[tuple[str, float]]]

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> KeywordExtractor:
        """Find the keywords of every cluster in ``labels`` (noise, -1, gets none)."""
        ...


class NoKeywords:
    """The do-nothing keyword stage: every cluster gets an empty list."""

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> NoKeywords:
        """Give every cluster no keywords."""
        self.keywords_ = {int(c): [] for c in np.unique(labels) if c >= 0}
        return self


class ClassTfidf:
    """Estimator: c-TF-IDF keywords, ``top_n`` per cluster.

    ``fit`` sets ``keywords_`` and ``weights_`` (clusters x vocabulary, sparse
    rows in the order of ``clusters_``) and ``vocabulary_``. Counts may be
    passed in (``counts``/``vocabulary``) to share one vectorisation.
    """

    def __init__(self, top_n: int = 10, vocabulary: VocabularyConfig = VocabularyConfig(),
                 dampen: bool = False) -> None:
        self.top_n = top_n
        self.vocabulary = vocabulary
        self.dampen = dampen

    def fit(self, texts: Sequence[str], labels: np.ndarray, counts: sparse.csr_matrix | None = None,
            words: np.ndarray | None = None) -> ClassTfidf:
        """Weigh words per cluster and keep the ``top_n`` of each."""
        labels = np.asarray(labels)
        if counts is None or words is None:
            counts, words = count_words(texts, self.vocabulary)
        clusters, per_cluster = topic_word_counts(counts, labels)
        self.clusters_, self.vocabulary_ = clusters, words
        if not len(clusters):
            self.keywords_, self.weights_ = {}, sparse.csr_matrix((0, len(words)))
            return self
        self.weights_ = class_tfidf(per_cluster, self.dampen)
        self.keywords_ = {}
        for row, cluster in enumerate(clusters.tolist()):
            start, end = self.weights_.indptr[row], self.weights_.indptr[row + 1]
            values, columns = self.weights_.data[start:end], self.weights_.indices[start:end]
            best = np.argsort(-values, kind="stable")[: self.top_n]
            self.keywords_[cluster] = [(str(words[columns[i]]), round(float(values[i]), 6)) for i in best]
        return self


def topic_word_counts(counts: sparse.csr_matrix, labels: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
    """``(clusters, per_cluster)``: the sorted cluster ids (noise, -1, left out) and their (K, V) summed word counts."""
    labels = np.asarray(labels)
    clusters = np.array(sorted(int(c) for c in np.unique(labels) if c >= 0), dtype=np.int64)
    kept = labels >= 0
    rows = np.searchsorted(clusters, labels[kept])
    membership = sparse.csr_matrix((np.ones(len(rows)), (rows, np.nonzero(kept)[0])),
                                   shape=(len(clusters), len(labels)))
    return clusters, (membership @ counts).astype(np.float64).tocsr()


def class_tfidf(per_cluster: sparse.csr_matrix, dampen: bool = False) -> sparse.csr_matrix:
    """c-TF-IDF weights (K, V) from per-cluster word counts (K, V): ``tf * log(1 + A / f)``."""
    per_cluster = sparse.csr_matrix(per_cluster, dtype=np.float64, copy=True)
    if dampen:
        per_cluster.data = np.sqrt(per_cluster.data)  # tempers words frequent everywhere in a cluster
    totals = np.asarray(per_cluster.sum(axis=1)).ravel()
    frequency = np.asarray(per_cluster.sum(axis=0)).ravel()
    average_words = totals.mean() if len(totals) else 0.0
    idf = np.log1p(average_words / np.maximum(frequency, 1e-12))
    term_share = sparse.diags(1.0 / np.maximum(totals, 1e-12)) @ per_cluster
    return (term_share @ sparse.diags(idf)).tocsr()


def representatives(vectors: np.ndarray, labels: np.ndarray, top_n: int = 3) -> dict[int, list[int]]:
    """For each cluster, the indices of the ``top_n`` items nearest its mean direction (best first)."""
    chosen: dict[int, list[int]] = {}
    for cluster in np.unique(labels):
        if cluster < 0:
            continue
        members = np.nonzero(labels == cluster)[0]
        centre = vectors[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        similarity = vectors[members] @ centre
        chosen[int(cluster)] = members[np.argsort(-similarity, kind="stable")[:top_n]].tolist()
    return chosen
