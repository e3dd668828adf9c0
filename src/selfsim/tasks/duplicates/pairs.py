"""Scoring a pair of texts: cosine similarity fused with lexical overlap, learned from labelled pairs.

Cosine similarity of sentence vectors knows that two texts are about the same
thing, but it is blunt about details a paraphrase must keep: numbers, names,
negations, how much of one text the other covers. :class:`PairScorer` is a
logistic regression over the cosine and a handful of overlap features
(:func:`pair_features`), fitted on labelled pairs; its score is a probability
that the pair is a duplicate or paraphrase. Its weights are plain numbers,
saved as JSON. Every feature is computed from the two texts alone (no corpus
statistics), so a saved scorer applies to any new pair.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from selfsim.data.shingles import normalise_text
from selfsim.errors import ConfigError, InputError, NotFoundError

FEATURES = ("cosine", "word_jaccard", "content_jaccard", "containment", "bigram_jaccard", "char_jaccard",
            "length_ratio", "number_jaccard", "numbers_differ", "name_jaccard", "sequence_ratio", "coverage_min",
            "coverage_max", "negation_differs", "length_difference")

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"(\b(not|no|never|nor|nothing|nobody|none|cannot|without)\b|n't\b)", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")

# A short function-word list: content overlap should not be inflated by "the" and "of".
_FUNCTION_WORDS = frozenset(
    "a an the of to in on at for by with from and or but as is are was were be been being it its this that "
    "these those he she they we you i his her their our your him them us me not no do does did has have had "
    "will would can could should may might s said says".split())


def _jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _text_features(first: str, second: str) -> list[float]:
    words_a, words_b = normalise_text(first).split(), normalise_text(second).split()
    set_a, set_b = set(words_a), set(words_b)
    content_a, content_b = set_a - _FUNCTION_WORDS, set_b - _FUNCTION_WORDS
    bigrams_a, bigrams_b = set(zip(words_a, words_a[1:], strict=False)), set(zip(words_b, words_b[1:], strict=False))
    joined_a, joined_b = " ".join(words_a), " ".join(words_b)
    chars_a = {joined_a[i:i + 4] for i in range(max(len(joined_a) - 3, 1))}
    chars_b = {joined_b[i:i + 4] for i in range(max(len(joined_b) - 3, 1))}
    numbers_a, numbers_b = set(_NUMBER.findall(first)), set(_NUMBER.findall(second))
    names_a, names_b = set(_NAME.findall(first)), set(_NAME.findall(second))
    shorter = min(len(set_a), len(set_b))
    shared = len(set_a & set_b)
    coverage = (shared / max(len(set_a), 1), shared / max(len(set_b), 1))
    longer = max(len(words_a), len(words_b), 1)
    return [
        _jaccard(set_a, set_b),
        _jaccard(content_a, content_b),
        len(set_a & set_b) / shorter if shorter else 1.0,
        _jaccard(bigrams_a, bigrams_b),
        _jaccard(chars_a, chars_b),
        min(len(words_a), len(words_b)) / max(len(words_a), len(words_b), 1),
        _jaccard(numbers_a, numbers_b),
        float(bool(numbers_a or numbers_b) and numbers_a != numbers_b),
        _jaccard(names_a, names_b),
        SequenceMatcher(None, words_a, words_b, autojunk=False).ratio(),  # order-aware overlap
        min(coverage),
        max(coverage),
        float(bool(_NEGATION.search(first)) != bool(_NEGATION.search(second))),
        abs(len(words_a) - len(words_b)) / longer,
    ]


def pair_features(first: Sequence[str], second: Sequence[str], cosines: np.ndarray) -> np.ndarray:
    """(N, len(FEATURES)) features of text pairs: their cosine and lexical overlaps, each in [0, 1]."""
    if not len(first) == len(second) == len(cosines):
        raise ConfigError("pair_features needs as many second texts and cosines as first texts.")
    rows = [[float(c), *_text_features(a, b)] for a, b, c in zip(first, second, cosines, strict=True)]
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))


class PairScorer:
    """Estimator: logistic regression from :func:`pair_features` to the chance a pair is a duplicate.

    ``fit(features, labels)`` sets ``coef_``, ``intercept_``, ``mean_`` and ``scale_`` (the
    standardisation); ``score(features)`` gives probabilities. ``regularisation`` is the
    inverse strength ``C`` of scikit-learn's L2 penalty.
    """

    def __init__(self, regularisation: float = 1.0, max_iter: int = 1000) -> None:
        self.regularisation = regularisation
        self.max_iter = max_iter

    def fit(self, features: np.ndarray, labels: np.ndarray) -> PairScorer:
        """Learn the weights from labelled pairs (labels 0/1)."""
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels).astype(int)
        if len(np.unique(labels)) < 2:
            raise InputError("fitting a pair scorer needs both positive and negative pairs.")
        self.mean_ = features.mean(axis=0)
        self.scale_ = np.where(features.std(axis=0) > 1e-9, features.std(axis=0), 1.0)
        model = LogisticRegression(C=self.regularisation, max_iter=self.max_iter)
        model.fit((features - self.mean_) / self.scale_, labels)
        self.coef_ = model.coef_.ravel()
        self.intercept_ = float(model.intercept_[0])
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        """The probability that each pair is a duplicate, shape (N,)."""
        logits = ((features - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-logits))

    def weights(self) -> dict[str, float]:
        """Feature name -> weight (on standardised features), for reports."""
        return {name: round(float(w), 4) for name, w in zip(FEATURES, self.coef_, strict=True)}

    def save(self, path: str | Path) -> None:
        """Write the fitted weights as JSON."""
        data = {"features": list(FEATURES), "coef": self.coef_.tolist(), "intercept": self.intercept_,
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(), "regularisation": self.regularisation}
        Path(path).write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> PairScorer:
        """Read weights written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"{path} does not exist; fit a pair scorer first (selfsim eval pairs --save).")
        data = json.loads(path.read_text())
        if data.get("features") != list(FEATURES):
            raise ConfigError(f"{path} was written for other features; fit the pair scorer again.")
        scorer = cls(regularisation=float(data["regularisation"]))
        scorer.coef_ = np.array(data["coef"])
        scorer.intercept_ = float(data["intercept"])
        scorer.mean_ = np.array(data["mean"])
        scorer.scale_ = np.array(data["scale"])
        return scorer
