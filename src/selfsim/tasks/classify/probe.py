"""A linear probe: logistic regression on frozen embeddings, with temperature-calibrated probabilities.

The probe is the head every few-label method ends in. Embeddings from a
sentence encoder are unit vectors, and a logistic regression over them is a
strong, cheap classifier when labels are few. Its raw probabilities are often
too sure or too timid, so when the labels allow it the probe learns one
temperature from out-of-fold scores (Guo et al. 2017, "On Calibration of
Modern Neural Networks"); only *trusted* rows (human labels) are ever used to
judge, so pseudo-labels cannot grade themselves. :func:`held_out_accuracy`
says whether a head learned anything at all: its cross-validated accuracy
next to chance (the majority-class rate).

A fitted probe saves to a directory (``config.json`` + ``weights.safetensors``),
never a pickle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.version import __version__

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"


class TrainingDataError(InputError):
    """Labels that cannot train a classifier (one class only, too few, mismatched lengths)."""


@dataclass(frozen=True)
class ProbeConfig:
    """How the logistic-regression head is fitted.

    ``c`` is the inverse L2 strength (scikit-learn's ``C``); ``balanced`` weighs
    classes inversely to their frequency, so a class with few labels is not
    ignored; ``calibrate`` fits a temperature on out-of-fold scores when every
    class has at least ``calibration_min_per_class`` trusted labels.
    """

    c: float = 1.0
    balanced: bool = True
    max_iter: int = 2000
    calibrate: bool = True
    calibration_min_per_class: int = 3
    folds: int = 5
    seed: int = 0


def check_training_labels(labels: Sequence[Any], rows: int) -> np.ndarray:
    """The labels as an array, or a :class:`TrainingDataError` saying why they cannot train a classifier."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != rows:
        raise TrainingDataError(f"got {rows} vectors but {len(labels)} labels; give one label per item.")
    classes = np.unique(labels)
    if len(classes) < 2:
        only = f" (only {classes[0]!r})" if len(classes) else ""
        raise TrainingDataError(f"a classifier needs labels of at least two classes{only}; label some items "
                                "of another class first.")
    return labels


class LinearProbe:
    """Logistic regression on embeddings, scikit-learn style: ``fit`` returns self, learned attributes end in ``_``."""

    def __init__(self, config: ProbeConfig = ProbeConfig()) -> None:
        self.config = config

    def _model(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return _SingleThreaded(LogisticRegression(C=self.config.c, max_iter=self.config.max_iter,
                                                  class_weight="balanced" if self.config.balanced else None))

    def fit(self, vectors: np.ndarray, labels: Sequence[Any], sample_weight: np.ndarray | None = None,
            trusted: np.ndarray | None = None) -> LinearProbe:
        """Fit on ``vectors`` (N, D) and ``labels`` (N,); ``trusted`` marks the rows calibration may judge by
        (default: all)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        labels = check_training_labels(labels, len(vectors))
        model = self._model().fit(vectors, labels, sample_weight=sample_weight)
        self.classes_ = model.classes_
        self.coef_ = np.asarray(model.coef_, dtype=np.float32)
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float32)
        self.temperature_ = 1.0
        if self.config.calibrate:
            trusted = np.ones(len(labels), dtype=bool) if trusted is None else np.asarray(trusted, dtype=bool)
            _, counts = np.unique(labels[trusted], return_counts=True)
            if len(counts) == len(self.classes_) and counts.min() >= self.config.calibration_min_per_class:
                scores = out_of_fold_scores(self._model, vectors, labels, sample_weight, trusted,
                                            self.config.folds, self.config.seed)
                index = np.searchsorted(self.classes_, labels[trusted])
                self.temperature_ = fit_temperature(scores, index)
        return self

    def decision_function(self, vectors: np.ndarray) -> np.ndarray:
        """Class scores (logits) of shape (N, n_classes), before the temperature."""
        _check_fitted(self)
        logits = np.asarray(vectors, dtype=np.float32) @ self.coef_.T + self.intercept_  # (N, C) or (N, 1)
        if logits.shape[1] == 1:  # binary: scikit-learn keeps one column, the score of classes_[1]
            logits = np.hstack([np.zeros_like(logits), logits])
        return logits

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, n_classes), columns in the order of ``classes_``."""
        return softmax(self.decision_function(vectors) / self.temperature_)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.decision_function(vectors), axis=1)]

    # -- persistence -----------------------------------------------------------------------------

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` to ``directory``."""
        from safetensors.numpy import save_file

        _check_fitted(self)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"coef": np.ascontiguousarray(self.coef_), "intercept": np.ascontiguousarray(self.intercept_)},
                  str(directory / WEIGHTS_FILE))

        document = {"kind": "linear-probe", "selfsim_version": __version__, "config": asdict(self.config),
                    "classes": [str(c) for c in self.classes_], "temperature": self.temperature_, **(extra or {})}
        (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> LinearProbe:
        """Read a probe written by :meth:`save`."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise NotFoundError(f"{directory} holds no trained classifier; run `selfsim classify fit` first.")
        document = json.loads((directory / CONFIG_FILE).read_text())
        probe = cls(ProbeConfig(**document["config"]))
        weights = load_file(str(directory / WEIGHTS_FILE))
        probe.coef_, probe.intercept_ = weights["coef"], weights["intercept"]
        probe.classes_ = np.asarray(document["classes"])
        probe.temperature_ = float(document["temperature"])
        return probe


class _SingleThreaded:
    """Fits a scikit-learn model with BLAS/OpenMP limited to one thread.

    These fits are small and many (cross-validation inside every self-training
    round); with a thread pool per fit, a busy machine spends far longer
    coordinating threads than computing (measured: 20x slower on 2 shared cores).
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return self.model.fit(x, y, sample_weight=sample_weight)


def out_of_fold_scores(make_model: Callable[[], Any], vectors: np.ndarray, labels: np.ndarray,
                       sample_weight: np.ndarray | None, trusted: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Decision scores (n_trusted, n_classes) for the trusted rows, each from a model that did not see it.

    Trusted rows are split into stratified folds; untrusted rows (pseudo- or weak
    labels) are in every fold's training part, so they can help but never judge.
    """
    from sklearn.model_selection import StratifiedKFold

    trusted_rows = np.flatnonzero(trusted)
    other_rows = np.flatnonzero(~trusted)
    classes = np.unique(labels)
    _, counts = np.unique(labels[trusted_rows], return_counts=True)
    splitter = StratifiedKFold(n_splits=max(2, min(folds, int(counts.min()))), shuffle=True, random_state=seed)
    scores = np.zeros((len(trusted_rows), len(classes)), dtype=np.float64)
    for fit_part, held_part in splitter.split(trusted_rows, labels[trusted_rows]):
        rows = np.concatenate([trusted_rows[fit_part], other_rows])
        weight = None if sample_weight is None else np.asarray(sample_weight)[rows]
        model = make_model().fit(vectors[rows], labels[rows], sample_weight=weight)
        logits = model.decision_function(vectors[trusted_rows[held_part]])
        if logits.ndim == 1:
            logits = np.stack([np.zeros_like(logits), logits], axis=1)
        scores[np.ix_(held_part, np.searchsorted(classes, model.classes_))] = logits
    return scores


# How far above chance the cross-validated accuracy, less one standard error, must be before a head is taken
# to have learned anything (see held_out_accuracy).
CHANCE_MARGIN = 0.05


@dataclass(frozen=True)
class HeldOutAccuracy:
    """A head's cross-validated accuracy next to chance, and a warning when it is not clearly above it.

    ``accuracy`` is over every judged label (each predicted by a head that did
    not see it), ``standard_error`` the larger of the folds' standard error and
    the binomial one, ``chance`` the majority-class rate of the judged labels.
    When nothing could be measured ``accuracy`` is None and ``note`` says why.
    """

    accuracy: float | None = None
    standard_error: float | None = None
    chance: float | None = None
    majority_class: str | None = None
    folds: int = 0
    judged: int = 0
    note: str = ""
    warning: str | None = None

    @property
    def at_chance(self) -> bool:
        """True when the head was measured and is not clearly above chance."""
        return self.warning is not None

    def summary(self) -> str:
        """One line for people: the accuracy next to chance, or why it was not measured."""
        if self.accuracy is None or self.chance is None:
            return self.note
        line = (f"held-out accuracy {100 * self.accuracy:.1f}% ± {100 * (self.standard_error or 0):.1f} "
                f"({self.folds}-fold CV over {self.judged} human labels); chance {100 * self.chance:.1f}% "
                f"(always {self.majority_class!r})")
        return f"{line}; {self.note}" if self.note else line

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def held_out_accuracy(vectors: np.ndarray, labels: Sequence[Any], config: ProbeConfig = ProbeConfig(),
                      sample_weight: np.ndarray | None = None, trusted: np.ndarray | None = None) -> HeldOutAccuracy:
    """Stratified k-fold accuracy of the probe's head on the ``trusted`` rows, next to chance.

    k = min(``config.folds``, the smallest trusted class's count); untrusted rows
    (weak or pseudo-labels) are in every fold's training part and never judged.
    Nothing is measured (``note`` says why) when a trusted class has fewer than
    two labels. The rule for "clearly above chance": accuracy minus one standard
    error must exceed chance + ``CHANCE_MARGIN``; the standard error is the
    larger of the folds' (their spread / sqrt(k)) and the binomial
    sqrt(acc (1 - acc) / n), because a few folds can agree by luck. Only the
    argmax is judged, which the temperature never changes, so no fold fits one.
    """
    from sklearn.model_selection import StratifiedKFold

    vectors = np.asarray(vectors, dtype=np.float32)
    labels = check_training_labels(labels, len(vectors))
    trusted = np.ones(len(labels), dtype=bool) if trusted is None else np.asarray(trusted, dtype=bool)
    trusted_rows, other_rows = np.flatnonzero(trusted), np.flatnonzero(~trusted)
    judged = labels[trusted_rows]
    if len(judged) == 0:
        return HeldOutAccuracy(note="held-out accuracy not measured: there are no human labels to judge by.")
    classes, counts = np.unique(judged, return_counts=True)
    chance, majority = float(counts.max() / counts.sum()), str(classes[counts.argmax()])
    if len(classes) < 2:
        return HeldOutAccuracy(chance=chance, majority_class=majority, judged=len(judged),
                               note=f"held-out accuracy not measured: the human labels are all {majority!r}.")
    if counts.min() < 2:
        rare = str(classes[counts.argmin()])
        return HeldOutAccuracy(chance=chance, majority_class=majority, judged=len(judged),
                               note=f"held-out accuracy not measured: class {rare!r} has 1 human label; label at "
                                    "least two per class to measure it.")
    folds = int(min(config.folds, counts.min()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    head = LinearProbe(replace(config, calibrate=False))
    fold_accuracy, correct = [], 0
    for fit_part, held_part in splitter.split(trusted_rows, judged):
        rows = np.concatenate([trusted_rows[fit_part], other_rows])
        weight = None if sample_weight is None else np.asarray(sample_weight)[rows]
        model = head._model().fit(vectors[rows], labels[rows], sample_weight=weight)
        right = model.predict(vectors[trusted_rows[held_part]]) == judged[held_part]
        fold_accuracy.append(float(right.mean()))
        correct += int(right.sum())
    accuracy = correct / len(judged)
    standard_error = max(float(np.std(fold_accuracy, ddof=1) / np.sqrt(folds)),
                         float(np.sqrt(accuracy * (1 - accuracy) / len(judged))))
    warning = None
    if accuracy - standard_error <= chance + CHANCE_MARGIN:
        warning = (f"held-out accuracy {100 * accuracy:.1f}% ± {100 * standard_error:.1f} is not clearly above "
                   f"chance ({100 * chance:.1f}%, always {majority!r}), so the classifier has learned nothing "
                   "usable yet; label more items (`selfsim classify suggest` picks them) or check that the "
                   "labels follow the texts.")
    return HeldOutAccuracy(round(accuracy, 4), round(standard_error, 4), round(chance, 4), majority, folds,
                           len(judged), "", warning)


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature T > 0 minimising the cross-entropy of softmax(logits / T) against smoothed targets.

    With n judgements the targets are smoothed by 1 / (n + 2) (Laplace's rule of
    succession): a handful of held-out labels that all came out right is not
    evidence of certainty, and without the smoothing T would shrink towards zero
    and every probability towards 1.
    """
    from scipy.optimize import minimize_scalar

    n, k = logits.shape
    smoothing = 1.0 / (n + 2)
    soft = np.full((n, k), smoothing / k)
    soft[np.arange(n), targets] += 1.0 - smoothing

    def loss(log_t: float) -> float:
        probabilities = softmax(logits / np.exp(log_t))
        return float(-np.mean(np.sum(soft * np.log(probabilities + 1e-12), axis=1)))

    found = minimize_scalar(loss, bounds=(np.log(0.02), np.log(50.0)), method="bounded")
    return float(np.exp(found.x))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _check_fitted(probe: LinearProbe) -> None:
    if not hasattr(probe, "coef_"):
        raise ConfigError("this classifier is not trained yet; call fit first.")
