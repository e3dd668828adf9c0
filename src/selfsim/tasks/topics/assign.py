"""Topics for items that arrive after clustering: nearest prototypes in the embedding space, or "outlier".

BERTopic's ``transform`` pushes a new document through the fitted UMAP model. UMAP's fitted state
(the training graph, its nearest-neighbour search trees, numba functions) can only be saved by pickle,
which selfsim does not use as a storage format; so a fitted clustering is summarised instead, in the
encoder's own space, by a few *prototypes* per topic (k-means inside each topic, so a topic that is
long or made of parts keeps several centres). A new item takes the topic of its most similar
prototype, unless it lies clearly further from it than the members of that topic lie from their own
nearest prototype (``1 + slack`` times the distance, 1 - cosine, that all but ``outlier_quantile`` of the
members are within), in which case it is an outlier (-1).

The artifact is a directory: ``topics.json`` (topics, thresholds, settings, the encoder the vectors
came from) and ``prototypes.safetensors`` (arrays only), so it loads without running code.

>>> assigner = TopicAssigner().fit(vectors, labels)          # doctest: +SKIP
>>> topics, similarity = assigner.assign(new_vectors)         # doctest: +SKIP
>>> assigner.save("collection/topics/cluster", {"field": "cluster"})   # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.errors import ConfigError
from selfsim.version import __version__

OUTLIER = -1  # the topic of an item far from every topic (the same value HDBSCAN gives its noise)
ASSIGNER_FORMAT = 1
SETTINGS_FILE = "topics.json"
ARRAYS_FILE = "prototypes.safetensors"


@dataclass(frozen=True)
class AssignConfig:
    """How a fitted clustering is summarised for new items.

    ``prototypes``: at most this many centres per topic (k-means inside the topic; fewer for small
    topics, about one per ``members_per_prototype`` members). A new item is an outlier when its distance
    (1 - cosine) to the nearest prototype is over ``1 + slack`` times the distance that all but an
    ``outlier_quantile`` share of the topic's own members keep from their nearest prototype (the slack keeps
    new items like the members from being called outliers as often as that share); ``outlier_quantile=0``
    turns outliers off.
    """

    prototypes: int = 8
    members_per_prototype: int = 25
    outlier_quantile: float = 0.01
    slack: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.prototypes < 1:
            raise ConfigError(f"prototypes must be at least 1, not {self.prototypes}.")
        if not 0.0 <= self.outlier_quantile < 1.0:
            raise ConfigError(f"outlier_quantile must be in [0, 1), not {self.outlier_quantile}.")


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class TopicAssigner:
    """Estimator: ``fit(vectors, labels)`` learns ``prototypes_`` (P, D) unit vectors, ``prototype_topics_`` (P,)
    and ``thresholds_`` (one per topic, in the order of ``topics_``); ``assign`` gives new vectors a topic."""

    def __init__(self, config: AssignConfig = AssignConfig()) -> None:
        self.config = config

    def fit(self, vectors: np.ndarray, labels: np.ndarray) -> TopicAssigner:
        """Summarise each topic (label >= 0) of ``vectors`` by its prototypes and its outlier threshold."""
        from selfsim.tasks.topics.clusters import KMeansClusterer

        vectors, labels = _unit(vectors), np.asarray(labels, dtype=np.int64)
        if len(vectors) != len(labels):
            raise ConfigError("vectors and labels must have the same length.")
        topics = sorted(int(t) for t in np.unique(labels) if t >= 0)
        if not topics:
            raise ConfigError("there are no topics to assign new items to; cluster the items first.")
        prototypes, owners, thresholds = [], [], []
        for topic in topics:
            members = vectors[labels == topic]
            count = int(min(self.config.prototypes, max(1, len(members) // self.config.members_per_prototype)))
            if count > 1:
                centres = _unit(KMeansClusterer(count, n_init=1, max_iter=20, seed=self.config.seed)
                                .fit(members).centroids_)
            else:
                centres = _unit(members.mean(axis=0, keepdims=True))
            similarity = (members @ centres.T).max(axis=1)
            quantile = self.config.outlier_quantile
            far = float(np.quantile(1.0 - similarity, 1.0 - quantile)) if quantile > 0 else np.inf
            thresholds.append(float(max(-1.0, 1.0 - (1.0 + self.config.slack) * far)))  # as a cosine
            prototypes.append(centres)
            owners.extend([topic] * len(centres))
        self.topics_ = np.asarray(topics, dtype=np.int64)
        self.prototypes_ = np.concatenate(prototypes).astype(np.float32)
        self.prototype_topics_ = np.asarray(owners, dtype=np.int64)
        self.thresholds_ = np.asarray(thresholds, dtype=np.float32)
        return self

    def assign(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(topics, similarity)`` for (N, D) vectors: each one's topic (``OUTLIER`` when it is further from its
        nearest prototype than its topic's threshold) and its cosine to that prototype."""
        vectors = _unit(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.prototypes_.shape[1]:
            raise ConfigError(f"the topics were fitted on {self.prototypes_.shape[1]}-dimensional vectors, not "
                              f"{vectors.shape[-1]}-dimensional ones; cluster the collection again.")
        if not len(vectors):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = vectors @ self.prototypes_.T  # (N, P)
        best = scores.argmax(axis=1)
        similarity = scores[np.arange(len(vectors)), best]
        topics = self.prototype_topics_[best].copy()
        threshold = self.thresholds_[np.searchsorted(self.topics_, topics)]
        topics[similarity < threshold] = OUTLIER
        return topics, similarity.astype(np.float32)

    def relabel(self, mapping: dict[int, int]) -> TopicAssigner:
        """Rename topics (after merging); thresholds of merged topics take their lowest."""
        owners = np.asarray([mapping.get(int(t), int(t)) for t in self.prototype_topics_], dtype=np.int64)
        topics = sorted(set(owners.tolist()))
        old = {int(t): float(v) for t, v in zip(self.topics_, self.thresholds_, strict=True)}
        thresholds = [min(v for t, v in old.items() if mapping.get(t, t) == new) for new in topics]
        self.prototype_topics_, self.topics_ = owners, np.asarray(topics, dtype=np.int64)
        self.thresholds_ = np.asarray(thresholds, dtype=np.float32)
        return self

    # -- the artifact: a directory of JSON and safetensors -------------------------------------------------

    def save(self, directory: str | Path, info: dict[str, Any]) -> Path:
        """Write the assigner and ``info`` (topics, field names, encoder...) to ``directory``, replacing it whole."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        partial = directory.with_name(f".{directory.name}.partial")
        partial.mkdir(parents=True, exist_ok=True)
        save_file({"prototypes": self.prototypes_, "prototype_topics": self.prototype_topics_,
                   "topics": self.topics_, "thresholds": self.thresholds_}, str(partial / ARRAYS_FILE))
        settings = {"format": ASSIGNER_FORMAT, "selfsim": __version__, "config": asdict(self.config), **info}
        (partial / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
        if directory.exists():  # swap the old artifact out only once the new one is complete
            old = directory.with_name(f".{directory.name}.old")
            directory.replace(old)
            partial.replace(directory)
            for path in old.iterdir():
                path.unlink()
            old.rmdir()
        else:
            partial.replace(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> tuple[TopicAssigner, dict[str, Any]]:
        """The assigner saved in ``directory`` and the ``info`` saved with it."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        try:
            settings = json.loads((directory / SETTINGS_FILE).read_text())
            arrays = load_file(str(directory / ARRAYS_FILE))
        except (OSError, ValueError) as error:
            raise ConfigError(f"the saved topics in {directory} cannot be read ({error}); cluster the collection "
                              "again with --write.") from None
        if settings.get("format") != ASSIGNER_FORMAT:
            raise ConfigError(f"the saved topics in {directory} have an unknown format; cluster again with --write.")
        assigner = cls(AssignConfig(**settings.pop("config")))
        assigner.prototypes_ = arrays["prototypes"]
        assigner.prototype_topics_ = arrays["prototype_topics"]
        assigner.topics_ = arrays["topics"]
        assigner.thresholds_ = arrays["thresholds"]
        return assigner, settings
