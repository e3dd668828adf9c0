"""The few-label classifier: a linear head, grown by self-training or label propagation, with weak labels.

One estimator for both ``selfsim classify fit`` (over a collection's stored
vectors) and ``selfsim eval classify`` (over a labelled draw), so a method is
chosen and run in one place. Arrays in, arrays out; it never sees texts, so a
contrastive fine-tune of the encoder (:func:`selfsim.training.setfit.finetune_encoder`)
is a step before it that changes the vectors it is given.

What :meth:`FewLabelClassifier.fit` does, in order:

1. measures the head's held-out accuracy next to chance on the given labels
   (``config.held_out``; see :func:`~selfsim.tasks.classify.probe.held_out_accuracy`);
2. joins weak labels of unlabelled rows to the labels — given as
   :class:`WeakLabels`, or as labelling functions' votes that a label model
   (Dawid–Skene, the given labels clamped) turns into them — each untrusted and
   weighted by its confidence, so it helps fit but never judges;
3. fits the head with the growth ``config.semi`` names over the remaining
   unlabelled rows: ``none`` (the head alone), ``self-train``
   (:class:`~selfsim.tasks.classify.self_training.SelfTrainer`) or ``propagation``
   (:class:`~selfsim.tasks.classify.propagation.LabelPropagation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.classify.label_model import ABSTAIN
from selfsim.tasks.classify.probe import (
    HeldOutAccuracy,
    LinearProbe,
    ProbeConfig,
    check_training_labels,
    held_out_accuracy,
)
from selfsim.tasks.classify.propagation import LabelPropagation, PropagationConfig
from selfsim.tasks.classify.self_training import RoundReport, SelfTrainer, SelfTrainingConfig
from selfsim.tasks.classify.weak import fit_combiner

SemiSupervision = Literal["none", "self-train", "propagation"]
Combine = Literal["label-model", "majority"]


@dataclass(frozen=True)
class FewLabelConfig:
    """How the few-label classifier learns: the head, how it grows its labels, how weak votes combine.

    ``semi`` picks the growth over unlabelled rows (``none``, ``self-train`` or
    ``propagation``), each with its settings; ``combine`` is how labelling
    functions' votes become weak labels (``label-model`` or ``majority``);
    ``held_out`` measures the head's cross-validated accuracy next to chance.
    """

    semi: SemiSupervision = "none"
    probe: ProbeConfig = ProbeConfig()
    self_training: SelfTrainingConfig = SelfTrainingConfig()
    propagation: PropagationConfig = PropagationConfig()
    combine: Combine = "label-model"
    held_out: bool = True

    def __post_init__(self) -> None:
        if self.semi not in get_args(SemiSupervision):
            raise ConfigError(f"unknown semi-supervision {self.semi!r}; use none, self-train or propagation.")
        if self.combine not in get_args(Combine):
            raise ConfigError(f"unknown way to combine votes {self.combine!r}; use label-model or majority.")


@dataclass(frozen=True)
class WeakLabels:
    """Weak labels of unlabelled rows: which rows, their classes and how sure the label model is."""

    index: np.ndarray  # (W,) rows of the unlabelled vectors
    labels: np.ndarray  # (W,) class names
    confidence: np.ndarray  # (W,) the label model's probability of that class

    def describe(self) -> str:
        """How many rows were weakly labelled, per class, and how confidently."""
        names, counts = np.unique(self.labels, return_counts=True)
        spread = ", ".join(f"{n}: {c}" for n, c in zip(names, counts, strict=True))
        mean = float(self.confidence.mean()) if len(self.confidence) else 0.0
        return f"{len(self.index)} weak labels ({spread}), mean confidence {mean:.2f}"


def weak_labels_from_votes(votes: np.ndarray, labels: np.ndarray, classes: np.ndarray,
                           clamp: np.ndarray | None = None, combine: Combine = "label-model") -> WeakLabels:
    """Combine labelling functions' ``votes`` into weak labels of the unlabelled rows they cover.

    ``votes`` (N + U, F) are class indices into ``classes`` (-1 abstains): the
    N labelled rows first, then the U unlabelled ones. The labelled rows'
    ``labels`` clamp the label model where ``clamp`` (N,) is true (default:
    all), so each latent class is tied to a real one. Every unlabelled row at
    least one function voted on gets the combiner's most probable class.
    """
    votes = np.asarray(votes)
    labels = np.asarray(labels)
    n = len(labels)
    if votes.ndim != 2 or len(votes) < n:
        raise ConfigError(f"give one row of votes per labelled and unlabelled row, not {len(votes)} for {n} "
                          "labelled rows.")
    known = np.full(len(votes), ABSTAIN)
    rows = np.arange(n) if clamp is None else np.flatnonzero(clamp)
    known[rows] = np.searchsorted(classes, labels[rows])
    model = fit_combiner(votes, len(classes), combine, known)
    index = np.flatnonzero((votes[n:] != ABSTAIN).any(axis=1))
    probabilities = model.predict_proba(votes)[n:][index]
    best = probabilities.argmax(axis=1)
    return WeakLabels(index, classes[best], probabilities[np.arange(len(best)), best])


class FewLabelClassifier:
    """A classifier from few labels (scikit-learn style: ``fit`` returns self, learned attributes end in ``_``).

    After :meth:`fit`: ``classes_``, ``head_`` (the fitted :class:`LinearProbe`,
    which saves to a directory), ``held_out_`` (a :class:`HeldOutAccuracy`, None
    when ``config.held_out`` is off), ``weak_`` (the :class:`WeakLabels` joined,
    None without any), ``pseudo_index_`` / ``pseudo_labels_`` /
    ``pseudo_confidence_`` (the unlabelled rows the growth labelled),
    ``rounds_`` and ``best_round_`` (self-training's rounds; empty and 0 otherwise).
    ``checkpoint_dir`` is where self-training writes one JSON file per round.
    """

    def __init__(self, config: FewLabelConfig = FewLabelConfig(), checkpoint_dir: str | Path | None = None) -> None:
        self.config = config
        self.checkpoint_dir = checkpoint_dir

    def fit(self, vectors: np.ndarray, labels: Any, *, trusted: np.ndarray | None = None,
            weights: np.ndarray | None = None, unlabelled: np.ndarray | None = None,
            weak_labels: WeakLabels | None = None, weak_votes: np.ndarray | None = None,
            held_out_vectors: np.ndarray | None = None,
            validation: tuple[np.ndarray, Any] | None = None) -> FewLabelClassifier:
        """Learn from ``vectors`` (N, D) and ``labels`` (N,), plus ``unlabelled`` (U, D) vectors when given.

        ``trusted`` (N,) marks the labels that may judge (calibration, rounds,
        held-out accuracy; default all) and ``weights`` (N,) weigh them in the
        head's fit (default 1). Weak labels of unlabelled rows come as
        ``weak_labels`` or as ``weak_votes`` (N + U, F; see
        :func:`weak_labels_from_votes`, class indices into the sorted classes).
        ``held_out_vectors`` (N, D') are the same labelled rows to measure the
        held-out accuracy on instead (the stored vectors, when ``vectors`` come
        from an encoder fine-tuned on these very labels and would grade the head
        on what it learned from); weak labels of unlabelled rows are never in
        that measurement. ``validation`` is an optional held-out labelled slice
        ``(vectors, labels)`` self-training scores its rounds on (default: out of
        fold on the labels). Self-training and propagation treat every label
        joined to the fit as trusted and of full weight: their loops take no
        weights.
        """
        config = self.config
        vectors = np.asarray(vectors, dtype=np.float32)
        labels = check_training_labels(labels, len(vectors))
        unlabelled = (vectors[:0] if unlabelled is None
                      else np.asarray(unlabelled, dtype=np.float32).reshape(-1, vectors.shape[1]))
        self.held_out_: HeldOutAccuracy | None = None
        if config.held_out:
            judged = vectors if held_out_vectors is None else held_out_vectors
            self.held_out_ = held_out_accuracy(judged, labels, config.probe, weights, trusted)
        if weak_votes is not None:
            if weak_labels is not None:
                raise ConfigError("give weak labels or the votes to make them from, not both.")
            weak_labels = weak_labels_from_votes(weak_votes, labels, np.unique(labels), trusted, config.combine)
        self.weak_ = weak_labels
        pool = unlabelled
        if weak_labels is not None:
            weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64)
            trusted = np.ones(len(labels), dtype=bool) if trusted is None else np.asarray(trusted, dtype=bool)
            vectors = np.concatenate([vectors, unlabelled[weak_labels.index]])
            labels = np.concatenate([labels, weak_labels.labels])
            weights = np.concatenate([weights, weak_labels.confidence])
            trusted = np.concatenate([trusted, np.zeros(len(weak_labels.index), dtype=bool)])
            open_rows = np.setdiff1d(np.arange(len(unlabelled)), weak_labels.index)
            pool = unlabelled[open_rows]
        self._grow(vectors, labels, weights, trusted, pool, validation)
        if weak_labels is not None:  # the growth saw the rows no weak label covers; index all unlabelled rows
            self.pseudo_index_ = open_rows[self.pseudo_index_]
        self.classes_ = self.head_.classes_
        return self

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, n_classes), columns in the order of ``classes_``."""
        return self.head_.predict_proba(vectors)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """The most probable class of each row."""
        return self.head_.predict(vectors)

    def _grow(self, vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray | None,
              trusted: np.ndarray | None, pool: np.ndarray, validation: tuple[np.ndarray, Any] | None) -> None:
        """Fit the head with the growth ``config.semi`` names over ``pool``; pseudo-label rows index ``pool``."""
        config = self.config
        self.rounds_: list[RoundReport] = []
        self.best_round_ = 0
        if config.semi == "self-train":
            trainer = SelfTrainer(config.self_training, config.probe, self.checkpoint_dir).fit(
                vectors, labels, pool, validation)
            self.head_ = trainer.probe_
            self.rounds_, self.best_round_ = trainer.rounds_, trainer.best_round_
            self.pseudo_index_, self.pseudo_labels_ = trainer.pseudo_index_, trainer.pseudo_labels_
            self.pseudo_confidence_ = trainer.pseudo_confidence_
        elif config.semi == "propagation":
            propagation = LabelPropagation(config.propagation, config.probe).fit(vectors, labels, pool)
            self.head_ = propagation.probe_
            self.pseudo_index_, self.pseudo_labels_ = propagation.pseudo_index_, propagation.pseudo_labels_
            self.pseudo_confidence_ = propagation.propagated_.max(axis=1)[propagation.pseudo_index_]
        else:
            self.head_ = LinearProbe(config.probe).fit(vectors, labels, sample_weight=weights, trusted=trusted)
            self.pseudo_index_, self.pseudo_labels_ = np.zeros(0, dtype=np.int64), labels[:0]
            self.pseudo_confidence_ = np.zeros(0, dtype=np.float32)
