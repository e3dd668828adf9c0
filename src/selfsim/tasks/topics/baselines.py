"""Topic-model baselines from the literature, on the same texts: LDA and LSA.

* **LDA** (Blei et al. 2003), scikit-learn's variational implementation: each
  text's topic is its most probable one; a topic's keywords are its most
  probable words. The priors matter: scikit-learn's default (1/k for both)
  suits neither short nor long texts; ``doc_topic_prior`` below 1 says a text
  is about few topics, a small ``topic_word_prior`` that topics use few words.
* **LSA** (Deerwester et al. 1990): TF-IDF, truncated SVD to ``n_components``
  dimensions, unit-normalised, then k-means; keywords are the words whose
  directions lie nearest each centroid, projected back from the SVD space.

Both are estimators: ``fit(texts)`` sets ``labels_`` and ``keywords_``
({cluster: [(word, weight)]}), and :meth:`settings` says how they were configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.topics.clusters import KMeansClusterer
from selfsim.tasks.topics.keywords import VocabularyConfig, count_words

# Vocabulary limits shared by both baselines: drop words in fewer than 5 texts or more than
# half of them, keep the 20k most frequent; stop words out.
BASELINE_VOCABULARY = VocabularyConfig(stop_words="english", min_df=5, max_df=0.5, max_features=20_000)


def _top_words(weights: np.ndarray, words: np.ndarray, top_n: int) -> dict[int, list[tuple[str, float]]]:
    return {row: [(str(words[i]), round(float(weights[row, i]), 6)) for i in np.argsort(-weights[row])[:top_n]]
            for row in range(weights.shape[0])}


class LDATopics:
    """Estimator: latent Dirichlet allocation over word counts (scikit-learn, batch variational Bayes)."""

    def __init__(self, k: int = 20, doc_topic_prior: float | None = 0.1, topic_word_prior: float | None = 0.01,
                 max_iter: int = 50, learning_method: str = "batch",
                 vocabulary: VocabularyConfig = BASELINE_VOCABULARY, top_n: int = 10, seed: int = 0) -> None:
        self.k = k
        self.doc_topic_prior = doc_topic_prior
        self.topic_word_prior = topic_word_prior
        self.max_iter = max_iter
        self.learning_method = learning_method
        self.vocabulary = vocabulary
        self.top_n = top_n
        self.seed = seed

    def fit(self, texts: Sequence[str]) -> LDATopics:
        """Fit the topics and give each text its most probable one."""
        from sklearn.decomposition import LatentDirichletAllocation

        if self.k > len(texts):
            raise ConfigError(f"k={self.k} is larger than the {len(texts)} texts; choose a smaller k.")
        counts, words = count_words(texts, self.vocabulary)
        model = LatentDirichletAllocation(n_components=self.k, doc_topic_prior=self.doc_topic_prior,
                                          topic_word_prior=self.topic_word_prior, max_iter=self.max_iter,
                                          learning_method=self.learning_method, random_state=self.seed,
                                          n_jobs=1)
        mixture = model.fit_transform(counts)
        self.model_ = model
        self.mixture_ = mixture
        self.labels_ = mixture.argmax(axis=1).astype(np.int64)
        topic_words = model.components_ / model.components_.sum(axis=1, keepdims=True)
        self.keywords_ = _top_words(topic_words, words, self.top_n)
        self.vocabulary_size_ = len(words)
        return self

    def settings(self) -> dict[str, Any]:
        """The configuration, for reports."""
        return {"method": "lda", "k": self.k, "doc_topic_prior": self.doc_topic_prior,
                "topic_word_prior": self.topic_word_prior, "max_iter": self.max_iter,
                "learning_method": self.learning_method, "vocabulary": asdict(self.vocabulary), "seed": self.seed}


class LSATopics:
    """Estimator: TF-IDF -> truncated SVD -> unit length -> k-means (FAISS)."""

    def __init__(self, k: int = 20, n_components: int = 100, sublinear_tf: bool = True,
                 vocabulary: VocabularyConfig = BASELINE_VOCABULARY, n_init: int = 5, top_n: int = 10,
                 seed: int = 0) -> None:
        self.k = k
        self.n_components = n_components
        self.sublinear_tf = sublinear_tf
        self.vocabulary = vocabulary
        self.n_init = n_init
        self.top_n = top_n
        self.seed = seed

    def fit(self, texts: Sequence[str]) -> LSATopics:
        """Project TF-IDF vectors to the SVD space and cluster them."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfTransformer

        if self.k > len(texts):
            raise ConfigError(f"k={self.k} is larger than the {len(texts)} texts; choose a smaller k.")
        counts, words = count_words(texts, self.vocabulary)
        tfidf = TfidfTransformer(sublinear_tf=self.sublinear_tf).fit_transform(counts)
        components = max(1, min(self.n_components, tfidf.shape[1] - 1, len(texts) - 1))
        svd = TruncatedSVD(n_components=components, random_state=self.seed)
        reduced = svd.fit_transform(tfidf).astype(np.float32)
        reduced /= np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)
        kmeans = KMeansClusterer(self.k, n_init=self.n_init, spherical=True, seed=self.seed).fit(reduced)
        self.labels_ = kmeans.labels_
        self.reduced_ = reduced
        self.keywords_ = _top_words(kmeans.centroids_ @ svd.components_, words, self.top_n)
        self.vocabulary_size_ = len(words)
        return self

    def settings(self) -> dict[str, Any]:
        """The configuration, for reports."""
        return {"method": "lsa", "k": self.k, "n_components": self.n_components, "sublinear_tf": self.sublinear_tf,
                "n_init": self.n_init, "vocabulary": asdict(self.vocabulary), "seed": self.seed}
