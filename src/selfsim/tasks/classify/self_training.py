"""Self-training: grow a few labels with the classifier's own confident guesses, and roll back when it hurts.

The loop (Yarowsky 1995; Lee 2013, "Pseudo-Label"):

1. round 0: ``f0`` = the probe trained on the labelled items only;
2. the current best model labels every unlabelled item; those whose
   probability is at least ``threshold`` (τ) are accepted, at most a capped
   number per class so one class cannot swallow the rest;
3. a new probe is trained on labelled ∪ accepted and scored on held-out labels
   (a given validation slice, or out-of-fold over the labelled items with the
   pseudo-labels always on the training side);
4. a round that scores worse than the best so far is rolled back and the loop
   stops; so does a round that accepts nothing new, or reaching ``max_rounds``.

Every round is recorded (and written to ``checkpoint_dir`` if given) with how
many items it accepted, their mean confidence, the class balance of what it
accepted and its held-out accuracy; the kept model is the best round's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.classify.probe import (
    LinearProbe,
    ProbeConfig,
    check_training_labels,
    fit_temperature,
    out_of_fold_scores,
)


@dataclass(frozen=True)
class SelfTrainingConfig:
    """Settings of the self-training loop.

    ``threshold`` is τ: an unlabelled item is accepted when its top probability
    is at least τ. ``max_class_share`` caps each class at that multiple of its
    share among the labelled items (of the items eligible this round), and
    ``max_per_class`` (if set) caps it absolutely; the most confident win.
    ``pseudo_weight`` is the training weight of one pseudo-labelled item
    relative to a labelled one.
    """

    threshold: float = 0.9
    max_rounds: int = 5
    max_class_share: float = 1.5
    max_per_class: int | None = None
    pseudo_weight: float = 1.0
    folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"the self-training threshold must be in (0, 1], not {self.threshold}; try 0.9.")
        if self.max_rounds < 1:
            raise ConfigError("max_rounds must be at least 1.")
        if self.max_class_share <= 0:
            raise ConfigError("max_class_share must be positive; 1.5 lets a class take 1.5x its labelled share.")


@dataclass
class RoundReport:
    """What one round did and how it scored."""

    round: int
    accepted: int
    mean_confidence: float
    class_balance: dict[str, int]
    score: float | None
    kept: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def select_confident(probabilities: np.ndarray, classes: np.ndarray, threshold: float,
                     class_prior: np.ndarray | None = None, max_class_share: float | None = None,
                     max_per_class: int | None = None) -> np.ndarray:
    """Rows whose top probability is at least ``threshold``, capped per class; the most confident win.

    A class may take at most ``max_class_share * class_prior[c]`` of the rows
    that pass the threshold, and at most ``max_per_class`` rows. Returns the
    selected row indices, sorted.
    """
    confidence = probabilities.max(axis=1)
    predicted = probabilities.argmax(axis=1)
    eligible = np.flatnonzero(confidence >= threshold)
    chosen: list[np.ndarray] = []
    for c in range(len(classes)):
        rows = eligible[predicted[eligible] == c]
        cap = len(rows)
        if class_prior is not None and max_class_share is not None:
            cap = min(cap, int(np.ceil(max_class_share * class_prior[c] * len(eligible))))
        if max_per_class is not None:
            cap = min(cap, max_per_class)
        order = np.argsort(-confidence[rows], kind="stable")
        chosen.append(rows[order[:cap]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


class SelfTrainer:
    """Self-training around a :class:`LinearProbe` (scikit-learn style; learned attributes end in ``_``).

    After :meth:`fit`: ``probe_`` is the kept model, ``rounds_`` the round
    reports, ``best_round_`` the kept round, and ``pseudo_index_``,
    ``pseudo_labels_``, ``pseudo_confidence_`` the unlabelled rows it accepted.
    """

    def __init__(self, config: SelfTrainingConfig = SelfTrainingConfig(), probe: ProbeConfig = ProbeConfig(),
                 checkpoint_dir: str | Path | None = None) -> None:
        self.config = config
        self.probe = probe
        self.checkpoint_dir = checkpoint_dir

    def fit(self, vectors: np.ndarray, labels: Sequence[Any], unlabelled: np.ndarray,
            validation: tuple[np.ndarray, Sequence[Any]] | None = None) -> SelfTrainer:
        """Run the loop on labelled ``vectors``/``labels`` and ``unlabelled`` vectors.

        ``validation`` is an optional held-out labelled slice ``(vectors, labels)``;
        without it rounds are scored out-of-fold on the labelled items (when every
        class has at least two), and without either nothing can be rolled back.
        """
        config = self.config
        vectors = np.asarray(vectors, dtype=np.float32)
        labels = check_training_labels(labels, len(vectors))
        unlabelled = np.asarray(unlabelled, dtype=np.float32).reshape(-1, vectors.shape[1])
        classes, counts = np.unique(labels, return_counts=True)
        prior = counts / counts.sum()

        empty = np.zeros(0, dtype=np.int64)
        current, best_score = self._train(vectors, labels, unlabelled, empty, labels[:0], validation)
        self.rounds_ = [RoundReport(0, 0, 0.0, {}, best_score, True, "labelled items only")]
        self.best_round_ = 0
        self.probe_ = current
        self.pseudo_index_, self.pseudo_labels_ = empty, labels[:0]
        self.pseudo_confidence_ = np.zeros(0, dtype=np.float32)
        self._checkpoint(self.rounds_[0])
        if len(unlabelled) == 0:
            return self
        for number in range(1, config.max_rounds + 1):
            probabilities = current.predict_proba(unlabelled)
            picked = select_confident(probabilities, current.classes_, config.threshold, prior,
                                      config.max_class_share, config.max_per_class)
            picked_labels = current.classes_[probabilities[picked].argmax(axis=1)]
            confidence = probabilities[picked].max(axis=1) if len(picked) else np.zeros(0)
            balance = {str(c): int(n) for c, n in zip(*np.unique(picked_labels, return_counts=True), strict=True)}
            mean_confidence = float(confidence.mean()) if len(picked) else 0.0
            if len(picked) == 0:
                self._finish(RoundReport(number, 0, 0.0, {}, None, False, "nothing reached the threshold"))
                break
            if (np.array_equal(picked, self.pseudo_index_) and np.array_equal(picked_labels, self.pseudo_labels_)):
                self._finish(RoundReport(number, len(picked), mean_confidence, balance, None, False,
                                         "same pseudo-labels as the last round: converged"))
                break
            candidate, score = self._train(vectors, labels, unlabelled, picked, picked_labels, validation)
            worse = score is not None and best_score is not None and score < best_score
            report = RoundReport(number, len(picked), mean_confidence, balance, score, not worse,
                                 "rolled back: held-out accuracy fell" if worse else "")
            self.rounds_.append(report)
            self._checkpoint(report, picked, picked_labels, confidence)
            if worse:
                break
            current, best_score, self.best_round_ = candidate, score, number
            self.probe_ = candidate
            self.pseudo_index_, self.pseudo_labels_ = picked, picked_labels
            self.pseudo_confidence_ = confidence.astype(np.float32)
        return self

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities from the kept round's model."""
        return self.probe_.predict_proba(vectors)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Classes from the kept round's model."""
        return self.probe_.predict(vectors)

    @property
    def classes_(self) -> np.ndarray:
        """The classes, in the column order of :meth:`predict_proba`."""
        return self.probe_.classes_

    # -- helpers ---------------------------------------------------------------------------------

    def _combined(self, vectors: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray, picked: np.ndarray,
                  picked_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        all_vectors = np.concatenate([vectors, unlabelled[picked]])
        all_labels = np.concatenate([labels, picked_labels.astype(labels.dtype)])
        weight = np.concatenate([np.ones(len(labels)), np.full(len(picked), self.config.pseudo_weight)])
        trusted = np.arange(len(all_labels)) < len(labels)
        return all_vectors, all_labels, weight, trusted

    def _train(self, vectors: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray, picked: np.ndarray,
               picked_labels: np.ndarray,
               validation: tuple[np.ndarray, Sequence[Any]] | None) -> tuple[LinearProbe, float | None]:
        """The round's probe and its held-out score. One set of out-of-fold scores over the labelled
        items serves both the probe's temperature and the round's score, so a round costs one
        cross-validation instead of two."""
        all_vectors, all_labels, weight, trusted = self._combined(vectors, labels, unlabelled, picked, picked_labels)
        probe = LinearProbe(dataclasses.replace(self.probe, calibrate=False))
        probe.fit(all_vectors, all_labels, sample_weight=weight)
        probe.config = self.probe
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() < 2:
            return probe, self._held_out(probe, validation)
        scores = out_of_fold_scores(probe._model, all_vectors, all_labels, weight, trusted,
                                    self.config.folds, self.config.seed)
        targets = np.searchsorted(probe.classes_, labels)
        if self.probe.calibrate and counts.min() >= self.probe.calibration_min_per_class:
            probe.temperature_ = fit_temperature(scores, targets)
        held_out = self._held_out(probe, validation)
        return probe, held_out if validation is not None else float(np.mean(scores.argmax(axis=1) == targets))

    @staticmethod
    def _held_out(probe: LinearProbe, validation: tuple[np.ndarray, Sequence[Any]] | None) -> float | None:
        if validation is None:
            return None
        held_vectors, held_labels = validation
        return float(np.mean(probe.predict(np.asarray(held_vectors)) == np.asarray(held_labels)))

    def _finish(self, report: RoundReport) -> None:
        self.rounds_.append(report)
        self._checkpoint(report)

    def _checkpoint(self, report: RoundReport, picked: np.ndarray | None = None,
                    picked_labels: np.ndarray | None = None, confidence: np.ndarray | None = None) -> None:
        if self.checkpoint_dir is None:
            return
        directory = Path(self.checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = {"report": report.to_dict(), "config": asdict(self.config)}
        if picked is not None and picked_labels is not None and confidence is not None:
            document["accepted"] = {"rows": picked.tolist(), "labels": [str(x) for x in picked_labels],
                                    "confidence": [round(float(x), 5) for x in confidence]}
        (directory / f"round-{report.round:02d}.json").write_text(json.dumps(document) + "\n")

