"""Combine labelling-function votes into probabilistic labels: a Dawid–Skene label model, and majority vote.

Votes are a matrix ``(N items, M functions)`` of class indices, with
:data:`ABSTAIN` (-1) where a function said nothing.

:class:`DawidSkene` (Dawid & Skene 1979, "Maximum Likelihood Estimation of
Observer Error-Rates Using the EM Algorithm") assumes functions vote
independently given the true class and learns, by EM and without any gold
labels, each function's confusion matrix — including how often it abstains
on each class. That last part matters for keyword functions: a function that
only ever says "positive" carries its information in *when* it speaks, which a
model of votes alone cannot see. Accurate functions then count for more than
noisy ones, and disagreements are settled by who is usually right; majority
vote counts every function the same. Snorkel's LabelModel (Ratner et al.
2019) fits the same kind of model by matrix completion.

Functions are rarely independent, and one dependency is common enough to
learn: an *exception* — a narrow function that fires mostly where a broader
one of another class fires too ("not ... good" inside "good"). Counting both
votes as independent evidence teaches EM that the exception is a coin flip.
:func:`find_exceptions` finds such pairs from the votes alone (the narrow
function's firing makes the broad one's far more likely than its base rate; a
crude form of the structure learning of Bach et al. 2017), and on items where
both fire and disagree the broad function's vote is treated as unobserved, so
the more specific rule speaks for that item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfsim.errors import ConfigError

ABSTAIN = -1
_UNOBSERVED = -2  # an outcome the model skips: neither a vote nor an abstention


def check_votes(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """The votes as an int array (N, M), or a :class:`ConfigError` saying what is wrong."""
    votes = np.asarray(votes)
    if votes.ndim != 2:
        raise ConfigError("votes must be a matrix of shape (items, functions); apply the functions first.")
    votes = votes.astype(np.int64)
    if votes.size and (votes.min() < ABSTAIN or votes.max() >= n_classes):
        raise ConfigError(f"votes must be class indices 0..{n_classes - 1} or -1 for abstain.")
    return votes


def vote_counts(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """How many functions voted for each class, per item: (N, n_classes)."""
    counts = np.zeros((len(votes), n_classes), dtype=np.float64)
    for column in votes.T:
        voted = column != ABSTAIN
        counts[np.flatnonzero(voted), column[voted]] += 1
    return counts


class MajorityVote:
    """Each function counts the same. A tie splits the probability evenly among the tied classes;
    an item nobody voted on gets ``class_prior`` (uniform by default)."""

    def __init__(self, n_classes: int, class_prior: np.ndarray | None = None) -> None:
        self.n_classes = n_classes
        self.class_prior = class_prior

    def fit(self, votes: np.ndarray) -> MajorityVote:
        """Nothing to learn; kept for a uniform interface with :class:`DawidSkene`."""
        check_votes(votes, self.n_classes)
        return self

    def predict_proba(self, votes: np.ndarray) -> np.ndarray:
        """(N, n_classes) probabilities."""
        counts = vote_counts(check_votes(votes, self.n_classes), self.n_classes)
        top = counts.max(axis=1, keepdims=True)
        winners = (counts == top) & (top > 0)
        prior = (np.full(self.n_classes, 1.0 / self.n_classes) if self.class_prior is None
                 else np.asarray(self.class_prior, dtype=np.float64))
        probabilities = winners / np.maximum(winners.sum(axis=1, keepdims=True), 1)
        probabilities[top[:, 0] == 0] = prior
        return probabilities

    def predict(self, votes: np.ndarray, seed: int = 0) -> np.ndarray:
        """Class indices; ties (and items nobody voted on) broken at random with ``seed``."""
        return _argmax_random_ties(self.predict_proba(votes), seed)


@dataclass(frozen=True)
class DawidSkeneConfig:
    """EM settings: iterations, convergence tolerance, Dirichlet smoothing of the confusion
    matrices and the class prior, and whether abstaining is modelled per class.

    The smoothing is a pseudo-count per cell; it is small because on a few dozen
    items a larger one outweighs the evidence and EM can fold every item into
    one class."""

    max_iter: int = 200
    tolerance: float = 1e-6
    smoothing: float = 0.1
    one_coin: bool = False
    model_abstain: bool = True
    anchor: bool = True
    learn_prior: bool = True
    exceptions: bool = True
    exception_min_conditional: float = 0.3
    exception_min_lift: float = 3.0


def find_exceptions(votes: np.ndarray, min_conditional: float = 0.3, min_lift: float = 3.0) -> list[tuple[int, int]]:
    """Pairs ``(narrow, broad)`` of functions where ``narrow`` is an exception to ``broad``.

    ``narrow`` fires on fewer items than ``broad``; when it fires, ``broad``
    fires too at least ``min_conditional`` of the time and at least
    ``min_lift`` times its base rate; and where both fire they disagree more
    often than not.
    """
    fires = votes != ABSTAIN
    rates = fires.mean(axis=0)
    pairs = []
    for narrow in range(votes.shape[1]):
        for broad in range(votes.shape[1]):
            if narrow == broad or not 0 < rates[narrow] < rates[broad]:
                continue
            both = fires[:, narrow] & fires[:, broad]
            conditional = both.sum() / fires[:, narrow].sum()
            disagree = np.mean(votes[both, narrow] != votes[both, broad]) if both.any() else 0.0
            if conditional >= min_conditional and conditional >= min_lift * rates[broad] and disagree > 0.5:
                pairs.append((narrow, broad))
    return pairs


class DawidSkene:
    """The Dawid–Skene label model (scikit-learn style; learned attributes end in ``_``).

    After :meth:`fit`: ``prior_`` (n_classes,), ``confusion_`` (M, n_classes,
    n_outcomes) where outcome ``n_classes`` is "abstained" when abstaining is
    modelled, ``accuracy_`` (M,) each function's estimated accuracy when it
    votes, ``exceptions_`` the ``(narrow, broad)`` function pairs found by
    :func:`find_exceptions`, and ``n_iter_``.
    """

    def __init__(self, n_classes: int, config: DawidSkeneConfig = DawidSkeneConfig(),
                 class_prior: np.ndarray | None = None) -> None:
        self.n_classes = n_classes
        self.config = config
        self.class_prior = class_prior

    def fit(self, votes: np.ndarray, known: np.ndarray | None = None) -> DawidSkene:
        """Learn the function confusion matrices and class prior from ``votes`` by EM.

        ``known`` (optional) holds a class index per item, -1 where unknown: items
        with a known class keep it throughout (semi-supervised Dawid–Skene), which
        ties each latent class to a real one and helps when functions overlap.
        """
        votes = check_votes(votes, self.n_classes)
        k = self.n_classes
        self.exceptions_ = (find_exceptions(votes, self.config.exception_min_conditional,
                                            self.config.exception_min_lift) if self.config.exceptions else [])
        outcomes = self._outcomes(votes)
        # Start from majority vote, which fixes which class is which (EM alone is symmetric).
        posterior = MajorityVote(k, self.class_prior).predict_proba(votes)
        clamp = None
        if known is not None:
            known = np.asarray(known, dtype=np.int64)
            if known.shape != (len(votes),) or known.max(initial=-1) >= k or known.min(initial=-1) < ABSTAIN:
                raise ConfigError("known must hold one class index (or -1) per item.")
            clamp = np.flatnonzero(known != ABSTAIN)
            posterior[clamp] = np.eye(k)[known[clamp]]
        previous = -np.inf
        self.n_iter_ = 0
        for iteration in range(1, self.config.max_iter + 1):
            self._m_step(outcomes, posterior)
            log_joint = self._log_joint(outcomes)
            log_likelihood = float(_logsumexp(log_joint).sum())
            posterior = np.exp(log_joint - _logsumexp(log_joint)[:, None])
            if clamp is not None:
                posterior[clamp] = np.eye(k)[known[clamp]]  # type: ignore[index]
            self.n_iter_ = iteration
            if abs(log_likelihood - previous) <= self.config.tolerance * max(1.0, abs(log_likelihood)):
                break
            previous = log_likelihood
        self.log_likelihood_ = previous
        voted = self.confusion_[:, :, :k]
        self.accuracy_ = (np.einsum("k,mkk->m", self.prior_, voted)
                          / np.maximum(np.einsum("k,mkl->m", self.prior_, voted), 1e-12))
        return self

    def predict_proba(self, votes: np.ndarray) -> np.ndarray:
        """(N, n_classes) posterior class probabilities."""
        if not hasattr(self, "confusion_"):
            raise ConfigError("the label model is not fitted yet; call fit first.")
        log_joint = self._log_joint(self._outcomes(check_votes(votes, self.n_classes)))
        return np.exp(log_joint - _logsumexp(log_joint)[:, None])

    def predict(self, votes: np.ndarray, seed: int = 0) -> np.ndarray:
        """Most probable class indices (exact ties broken at random with ``seed``)."""
        return _argmax_random_ties(self.predict_proba(votes), seed)

    # -- EM --------------------------------------------------------------------------------------

    def _outcomes(self, votes: np.ndarray) -> np.ndarray:
        if self.config.model_abstain:
            outcomes = np.where(votes == ABSTAIN, self.n_classes, votes)  # abstaining is one more outcome
        else:
            outcomes = np.where(votes == ABSTAIN, _UNOBSERVED, votes)
        for narrow, broad in self.exceptions_:
            overruled = (votes[:, narrow] != ABSTAIN) & (votes[:, broad] != ABSTAIN) & (
                votes[:, narrow] != votes[:, broad])
            outcomes[overruled, broad] = _UNOBSERVED
        return outcomes

    def _m_step(self, outcomes: np.ndarray, posterior: np.ndarray) -> None:
        k = self.n_classes
        n_outcomes = k + 1 if self.config.model_abstain else k
        alpha = self.config.smoothing
        confusion = np.empty((outcomes.shape[1], k, n_outcomes))
        for j, column in enumerate(outcomes.T):
            counts = np.full((k, n_outcomes), alpha)
            for outcome in range(n_outcomes):
                counts[:, outcome] += posterior[column == outcome].sum(axis=0)
            counts[:, :k] += alpha * np.eye(k)  # a mild belief that functions beat chance
            if self.config.one_coin and not self.config.model_abstain:
                right = np.trace(counts)
                accuracy = right / counts.sum()
                confusion[j] = np.full((k, k), (1.0 - accuracy) / max(k - 1, 1))
                np.fill_diagonal(confusion[j], accuracy)
            else:
                confusion[j] = counts / counts.sum(axis=1, keepdims=True)
                if self.config.anchor:
                    _anchor(confusion[j], k)
        self.confusion_ = confusion
        if self.class_prior is not None:
            self.prior_ = np.asarray(self.class_prior, dtype=np.float64)
        elif self.config.learn_prior:
            totals = posterior.sum(axis=0) + alpha
            self.prior_ = totals / totals.sum()
        else:
            self.prior_ = np.full(k, 1.0 / k)

    def _log_joint(self, outcomes: np.ndarray) -> np.ndarray:
        log_joint = np.tile(np.log(self.prior_), (len(outcomes), 1))  # (N, K)
        log_confusion = np.log(self.confusion_)  # (M, K, outcomes)
        for j, column in enumerate(outcomes.T):
            observed = column >= 0
            log_joint[observed] += log_confusion[j][:, column[observed]].T
        return log_joint


def _anchor(confusion: np.ndarray, k: int) -> None:
    """Keep a function's vote for class l at least as likely under class l as under any other class.

    Without this, EM may explain a function's votes by a latent class that is
    not the one it names (a "praise" keyword becoming evidence for the negative
    class), which fits the firing patterns as well and means nothing. Where a
    vote would favour another class, its likelihood is levelled across the
    classes involved, so that vote carries no evidence instead of the wrong one.
    """
    for label in range(k):
        column = confusion[:, label]
        if column.argmax() != label:
            high = column >= column[label]
            column[high] = column[high].mean()
    confusion /= confusion.sum(axis=1, keepdims=True)


def _logsumexp(values: np.ndarray) -> np.ndarray:
    top = values.max(axis=1)
    return top + np.log(np.exp(values - top[:, None]).sum(axis=1))


def _argmax_random_ties(probabilities: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    jitter = rng.random(probabilities.shape) * 1e-9  # breaks exact ties only
    return np.argmax(probabilities + jitter, axis=1)
