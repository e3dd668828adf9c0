"""Label propagation over the kNN graph: the alternative to self-training's own-confidence pseudo-labels.

Labels spread from the labelled items to their nearest neighbours and on
through the graph (Zhou et al. 2004, "Learning with Local and Global
Consistency", as scikit-learn's ``LabelSpreading`` implements it with a kNN
kernel). Items the spread reaches with enough weight become pseudo-labels
(capped per class, as in self-training), and a :class:`LinearProbe` trained
on labelled ∪ propagated labels classifies new texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.classify.probe import LinearProbe, ProbeConfig, check_training_labels
from selfsim.tasks.classify.self_training import select_confident


@dataclass(frozen=True)
class PropagationConfig:
    """kNN graph size, how far labels spread (``alpha``: 0 keeps the seeds, near 1 spreads far) and
    which propagated labels are kept (normalised weight at least ``threshold``, capped per class)."""

    n_neighbors: int = 10
    alpha: float = 0.5
    max_iter: int = 50
    threshold: float = 0.7
    max_class_share: float = 1.5
    pseudo_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.n_neighbors < 1:
            raise ConfigError("n_neighbors must be at least 1; try 10.")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha must be between 0 and 1, not {self.alpha}; try 0.5.")


class LabelPropagation:
    """Propagate labels over the kNN graph, then fit a probe (learned attributes end in ``_``).

    After :meth:`fit`: ``propagated_`` holds the normalised class weights of
    every unlabelled row (N_u, n_classes), ``pseudo_index_`` / ``pseudo_labels_``
    the rows kept as pseudo-labels, and ``probe_`` the classifier.
    """

    def __init__(self, config: PropagationConfig = PropagationConfig(), probe: ProbeConfig = ProbeConfig()) -> None:
        self.config = config
        self.probe = probe

    def fit(self, vectors: np.ndarray, labels: Sequence[Any], unlabelled: np.ndarray) -> LabelPropagation:
        """Spread ``labels`` of ``vectors`` over ``unlabelled`` and train the probe."""
        from sklearn.semi_supervised import LabelSpreading

        config = self.config
        vectors = np.asarray(vectors, dtype=np.float32)
        labels = check_training_labels(labels, len(vectors))
        unlabelled = np.asarray(unlabelled, dtype=np.float32).reshape(-1, vectors.shape[1])
        classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
        self.classes_ = classes
        if len(unlabelled) == 0:
            self.propagated_ = np.zeros((0, len(classes)))
            self.pseudo_index_, self.pseudo_labels_ = np.zeros(0, dtype=np.int64), labels[:0]
            self.probe_ = LinearProbe(self.probe).fit(vectors, labels)
            return self
        everything = np.concatenate([vectors, unlabelled])
        targets = np.concatenate([codes, np.full(len(unlabelled), -1)])
        neighbours = min(config.n_neighbors, len(everything) - 1)
        spreading = LabelSpreading(kernel="knn", n_neighbors=neighbours, alpha=config.alpha,
                                   max_iter=config.max_iter)
        spreading.fit(everything, targets)
        distributions = np.nan_to_num(spreading.label_distributions_[len(vectors):], nan=1.0 / len(classes))
        self.propagated_ = distributions
        picked = select_confident(distributions, classes, config.threshold, counts / counts.sum(),
                                  config.max_class_share)
        self.pseudo_index_ = picked
        self.pseudo_labels_ = classes[distributions[picked].argmax(axis=1)]
        all_vectors = np.concatenate([vectors, unlabelled[picked]])
        all_labels = np.concatenate([labels, self.pseudo_labels_])
        weight = np.concatenate([np.ones(len(labels)), np.full(len(picked), config.pseudo_weight)])
        trusted = np.arange(len(all_labels)) < len(labels)
        self.probe_ = LinearProbe(self.probe).fit(all_vectors, all_labels, sample_weight=weight, trusted=trusted)
        return self

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities from the probe trained on labelled ∪ propagated labels."""
        return self.probe_.predict_proba(vectors)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Classes from the probe trained on labelled ∪ propagated labels."""
        return self.probe_.predict(vectors)
