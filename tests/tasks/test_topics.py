"""Topic pipeline: planted clusters are recovered by every clusterer, keywords name them, k is chosen."""

from __future__ import annotations

import numpy as np
import pytest

from selfsim.errors import ConfigError, SelfsimError
from selfsim.tasks.topics.baselines import LDATopics, LSATopics
from selfsim.tasks.topics.clusters import (
    AgglomerativeClusterer,
    GaussianMixtureClusterer,
    HDBSCANClusterer,
    KMeansClusterer,
    NoClustering,
    choose_k,
)
from selfsim.tasks.topics.coherence import CoherenceConfig, npmi_coherence, topic_diversity
from selfsim.tasks.topics.keywords import ClassTfidf, NoKeywords, representatives
from selfsim.tasks.topics.model import TopicConfig, TopicModel, fit_topics
from selfsim.tasks.topics.reduce import NoReduction, PCAReduction, make_reducer

THEMES = [["apple", "banana", "cherry", "mango", "fruit"], ["engine", "wheel", "brake", "gearbox", "car"],
          ["python", "compiler", "bug", "function", "code"], ["goal", "match", "referee", "league", "team"]]


def blobs(per: int = 60, dim: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Four well-separated groups of unit vectors, with texts drawn from one theme per group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, dim)) * 3
    labels = np.repeat(np.arange(4), per)
    vectors = centres[labels] + rng.normal(size=(len(labels), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [" ".join(rng.choice(THEMES[c], 6)) + " and the report said so" for c in labels]
    return vectors.astype(np.float32), labels, texts


def agreement(truth: np.ndarray, found: np.ndarray) -> float:
    from sklearn.metrics import v_measure_score

    return float(v_measure_score(truth, found))


@pytest.mark.parametrize("clusterer", [KMeansClusterer(4), AgglomerativeClusterer(4), GaussianMixtureClusterer(4),
                                       HDBSCANClusterer(min_cluster_size=10)],
                         ids=["kmeans", "agglomerative", "gmm", "hdbscan"])
def test_every_clusterer_recovers_planted_clusters(clusterer) -> None:  # noqa: ANN001
    vectors, labels, _ = blobs()
    reduced = PCAReduction(8).fit_transform(vectors)
    found = clusterer.fit(reduced).labels_
    kept = found >= 0
    assert kept.mean() > 0.8 and agreement(labels[kept], found[kept]) > 0.95


def test_do_nothing_stages() -> None:
    vectors, _, texts = blobs(per=5)
    assert np.array_equal(NoReduction().fit_transform(vectors), vectors)
    assert set(NoClustering().fit(vectors).labels_.tolist()) == {0}
    model = TopicModel(NoReduction(), NoClustering(), NoKeywords()).fit(vectors, texts)
    assert len(model.topics_) == 1 and model.topics_[0].keywords == [] and model.topics_[0].size == 20


def test_keywords_name_the_planted_themes_and_representatives_are_members() -> None:
    vectors, labels, texts = blobs()
    keywords = ClassTfidf(top_n=5).fit(texts, labels).keywords_
    for cluster, theme in enumerate(THEMES):
        assert {word for word, _ in keywords[cluster]} == set(theme)
    chosen = representatives(vectors, labels, top_n=3)
    assert all(len(v) == 3 and set(labels[v]) == {c} for c, v in chosen.items())


def test_noise_gets_no_keywords_and_is_reported() -> None:
    vectors, labels, texts = blobs(per=20)
    labels = labels.copy()
    labels[:5] = -1
    model = TopicModel(NoReduction(), _Fixed(labels), ClassTfidf()).fit(vectors, texts)
    assert model.noise_ == 5 and {t.cluster for t in model.topics_} == {0, 1, 2, 3}


class _Fixed:
    def __init__(self, labels: np.ndarray) -> None:
        self.fixed = labels

    def fit(self, vectors: np.ndarray) -> _Fixed:
        self.labels_ = self.fixed
        return self


def test_choose_k_finds_the_planted_number() -> None:
    vectors, _, _ = blobs()
    best, scores = choose_k(vectors, [2, 3, 4, 6, 8], lambda k: KMeansClusterer(k))
    assert best == 4 and set(scores) == {2, 3, 4, 6, 8}


def test_fit_topics_end_to_end_with_automatic_k_and_measures() -> None:
    vectors, labels, texts = blobs()
    result = fit_topics(vectors, texts, config=TopicConfig(reduce="pca", reduce_dims=8, k_range=(2, 6, 2)))
    assert result.k == 4 and agreement(labels, result.model.labels_) > 0.95
    assert result.coherence is not None and result.coherence > 0.2 and result.diversity == 1.0
    assert [t.size for t in result.model.topics_] == [60, 60, 60, 60]
    assert result.to_dict()["topics"][0]["label"]


def test_coherence_prefers_words_that_occur_together() -> None:
    _, _, texts = blobs(per=20)
    good, _ = npmi_coherence(THEMES, texts, CoherenceConfig(window=None))
    mixed, _ = npmi_coherence([[theme[i] for theme in THEMES] for i in range(4)], texts, CoherenceConfig(window=None))
    assert good > 0.3 > mixed
    assert topic_diversity(THEMES) == 1.0 and topic_diversity([["a", "b"], ["a", "b"]]) == 0.5


def test_baselines_separate_distinct_vocabularies() -> None:
    _, labels, texts = blobs(per=40)
    lsa = LSATopics(4, n_components=8).fit(texts)
    assert agreement(labels, lsa.labels_) > 0.9 and lsa.settings()["method"] == "lsa"
    lda = LDATopics(4, max_iter=30).fit(texts)
    assert agreement(labels, lda.labels_) > 0.8 and len(lda.keywords_) == 4


def test_bad_arguments_are_one_clear_sentence() -> None:
    vectors, _, texts = blobs(per=2)
    with pytest.raises(ConfigError, match="larger than the 8 items"):
        fit_topics(vectors, texts, config=TopicConfig(k=20))
    with pytest.raises(ConfigError, match="larger than"):
        KMeansClusterer(9).fit(vectors)
    with pytest.raises(SelfsimError, match="no items"):
        fit_topics(np.zeros((0, 4)), [])
    with pytest.raises(ConfigError, match="unknown reduction"):
        make_reducer("tsne")
    with pytest.raises(ConfigError, match="k_range"):
        TopicConfig(k_range=(10, 5, 1))


def test_collection_topics_write_back_and_empty_collection(make_collection) -> None:  # noqa: ANN001
    from selfsim.tasks.topics.collection import cluster_collection, write_topics

    with pytest.raises(SelfsimError, match="no items"):
        cluster_collection(make_collection([], name="empty").store)
    rows = [{"id": f"{n}", "text": text} for n, text in enumerate(
        ["Bake bread with flour and yeast", "Knead the dough for pizza", "Simmer tomato soup with basil",
         "The rocket reached orbit", "Astronauts docked with the station", "A telescope saw a far galaxy"])]
    collection = make_collection(rows, name="small")
    result = cluster_collection(collection.store, TopicConfig(reduce="none", k=2))
    assert sorted(t.size for t in result.model.topics_) == [3, 3]
    write_topics(collection.store, result)
    cluster_of = {item.id: item.metadata["cluster"] for item in collection.items()}
    assert len({cluster_of[i] for i in "012"}) == 1 and len({cluster_of[i] for i in "345"}) == 1
    first = collection.items({"cluster": cluster_of["0"]})
    assert {item.id for item in first} == {"0", "1", "2"}
