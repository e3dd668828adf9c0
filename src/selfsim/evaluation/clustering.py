"""Clustering evaluation against labels: V-measure, NMI and ARI, for the embedding pipeline and the baselines.

The input is JSONL (optionally gzipped) with a text and a label per line, as
../shared/data/20ng/train.jsonl.gz. Every method clusters the same texts into
``k`` clusters (the number of distinct labels unless given); methods that pick
their own number (HDBSCAN) are scored as they are, noise as one more cluster.
Coherence (NPMI over the same texts, 10-token windows; selfsim's boolean
windows, or gensim's ``c_npmi`` counting with ``coherence_method="c_npmi"``) and
diversity are reported beside the label-based figures, with the same keyword
count for all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.readers import read_jsonl
from selfsim.errors import ConfigError, NotFoundError, RecordError
from selfsim.tasks.topics.baselines import LDATopics, LSATopics
from selfsim.tasks.topics.coherence import CoherenceConfig, CoherenceMethod, npmi_coherence, topic_diversity
from selfsim.tasks.topics.model import TopicConfig, fit_topics


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with their labels (strings), in file order."""

    ids: list[str]
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class ClusteringScores:
    """One method's figures (fractions, not percentages) and how it was configured."""

    method: str
    v_measure: float
    nmi: float
    ari: float
    homogeneity: float
    completeness: float
    clusters: int
    noise: int
    coherence: float | None = None
    diversity: float | None = None
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, figures rounded."""
        data = asdict(self)
        for key in ("v_measure", "nmi", "ari", "homogeneity", "completeness", "coherence", "diversity"):
            if data[key] is not None:
                data[key] = round(data[key], 4)
        data["seconds"] = round(self.seconds, 2)
        return data


def read_labelled_texts(path: str | Path, text_field: str = "text", label_field: str = "label",
                        id_field: str = "id", limit: int | None = None) -> LabelledTexts:
    """Read JSONL (``.gz`` too) rows with a text and a label."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path} does not exist; give a JSONL file with {text_field!r} and {label_field!r}.")
    ids, texts, labels = [], [], []
    example = json.dumps({text_field: "...", label_field: "..."})
    for location, row in read_jsonl(path, example, advice="fix the line"):
        if not isinstance(row.get(text_field), str) or row.get(label_field) is None:
            raise RecordError(path.name, location, f"has no {text_field!r} text or no {label_field!r}",
                             "give every line both (or pick the fields with --text-field/--label-field)")
        ids.append(str(row.get(id_field, location.removeprefix("line "))))
        texts.append(row[text_field])
        labels.append(str(row[label_field]))
        if limit is not None and len(texts) >= limit:
            break
    if not texts:
        raise RecordError(path.name, "", "holds no rows", "write one JSON object per line")
    return LabelledTexts(ids, texts, labels)


def label_scores(truth: Sequence[str] | np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """V-measure, NMI (arithmetic mean, equal to V-measure), ARI, homogeneity and completeness."""
    from sklearn import metrics

    homogeneity, completeness, v_measure = metrics.homogeneity_completeness_v_measure(truth, predicted)
    return {"v_measure": float(v_measure), "nmi": float(metrics.normalized_mutual_info_score(truth, predicted)),
            "ari": float(metrics.adjusted_rand_score(truth, predicted)), "homogeneity": float(homogeneity),
            "completeness": float(completeness)}


def _scores(method: str, truth: Sequence[str], predicted: np.ndarray, keywords: list[list[str]],
            texts: Sequence[str], seconds: float, settings: dict[str, Any], coherence: bool,
            coherence_method: CoherenceMethod = "selfsim") -> ClusteringScores:
    config = CoherenceConfig(method=coherence_method)
    npmi = npmi_coherence(keywords, texts, config)[0] if coherence and keywords else None
    diversity = topic_diversity(keywords) if keywords else None
    return ClusteringScores(method=method, **label_scores(truth, predicted),
                            clusters=len(set(predicted.tolist()) - {-1}), noise=int((predicted < 0).sum()),
                            coherence=npmi, diversity=diversity, seconds=seconds, settings=settings)


def evaluate_embedding(data: LabelledTexts, vectors: np.ndarray, config: TopicConfig, name: str = "embedding",
                       coherence: bool = True, coherence_method: CoherenceMethod = "selfsim") -> ClusteringScores:
    """Score the reduce -> cluster -> keywords pipeline on precomputed item vectors."""
    started = time.perf_counter()
    result = fit_topics(vectors, data.texts, data.ids, config, measure=False)
    seconds = time.perf_counter() - started
    by_cluster = {t.cluster: t.keywords for t in result.model.topics_}
    keywords = [by_cluster[c] for c in sorted(by_cluster) if by_cluster[c]]
    ran = result.config or config  # with the ``auto`` stages resolved
    return _scores(name, data.labels, result.model.labels_, keywords, data.texts, seconds,
                   {**asdict(ran), "k": result.k}, coherence, coherence_method)


def evaluate_baseline(data: LabelledTexts, model: LDATopics | LSATopics, name: str,
                      coherence: bool = True, coherence_method: CoherenceMethod = "selfsim") -> ClusteringScores:
    """Score an LDA or LSA baseline on the texts."""
    started = time.perf_counter()
    model.fit(data.texts)
    seconds = time.perf_counter() - started
    keywords = [[w for w, _ in model.keywords_[c]] for c in sorted(model.keywords_)]
    return _scores(name, data.labels, model.labels_, keywords, data.texts, seconds, model.settings(), coherence,
                   coherence_method)


def evaluate_clustering(data: LabelledTexts, vectors: np.ndarray | None, config: TopicConfig,
                        baselines: Sequence[str] = ("lsa", "lda"), coherence: bool = True,
                        progress: Callable[[str], None] | None = None,
                        coherence_method: CoherenceMethod = "selfsim") -> list[ClusteringScores]:
    """The embedding pipeline (when ``vectors`` are given) and the baselines, scored side by side.

    ``coherence_method`` counts NPMI with selfsim's boolean windows or as gensim's ``c_npmi``.
    """
    CoherenceConfig(method=coherence_method)  # an unknown method fails before any clustering
    k = config.k or len(set(data.labels))
    if k > len(data):
        raise ConfigError(f"k={k} is larger than the {len(data)} texts; choose a smaller k.")
    config = TopicConfig(**{**asdict(config), "k": k})
    results = []
    if vectors is not None:
        if progress:
            progress("embedding pipeline")
        ran = config.resolved(len(data))
        results.append(evaluate_embedding(data, vectors, config, f"embedding ({ran.reduce}+{ran.cluster})",
                                          coherence, coherence_method))
    for name in baselines:
        if progress:
            progress(name)
        if name == "lsa":
            results.append(evaluate_baseline(data, LSATopics(k, seed=config.seed), "lsa (tf-idf+svd+kmeans)",
                                             coherence, coherence_method))
        elif name == "lda":
            results.append(evaluate_baseline(data, LDATopics(k, seed=config.seed), "lda", coherence,
                                             coherence_method))
        else:
            raise ConfigError(f"unknown baseline {name!r}; use lsa or lda.")
    return results
