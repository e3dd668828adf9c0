"""Few-label classification evaluation: accuracy and macro-F1 from k labels per class, over several seeds.

The protocol: from a pool of training texts (all of them, or a seeded subset),
draw ``k`` labelled texts per class with seed ``s``; every other pool text is
unlabelled. Each method learns from exactly the same labelled draw and is
scored on the whole test set; results are the mean ± standard deviation over
seeds. Methods:

- ``probe``: logistic regression on the frozen embeddings (the baseline);
- ``self-train``: the probe grown with its confident pseudo-labels (rollback on);
- ``propagation``: labels spread over the kNN graph, then the probe;
- ``finetune``: a SetFit-style contrastive fine-tune of the encoder on pairs
  from the labels, then the probe on the new embeddings;
- ``finetune+self-train``: the fine-tuned encoder, then self-training over
  ``finetune_pool`` unlabelled texts re-embedded with it;
- ``weak`` (needs labelling functions): the functions vote on every unlabelled
  text, a label model (Dawid–Skene, the drawn labels clamped) turns the votes
  into probabilistic labels, and the probe learns from the drawn labels plus
  every covered text, weighted by the label model's confidence;
- ``finetune+weak``: the encoder of ``finetune`` (fine-tuned on the drawn
  labels only: pairs from noisy weak labels would teach it their mistakes),
  then a probe like ``weak``'s on every covered text, each text represented by
  its frozen and its fine-tuned embedding side by side, so the probe keeps
  what the pretrained space knows and adds what the few labels taught.

The fine-tune runs once per draw; ``finetune``, ``finetune+self-train`` and
``finetune+weak`` all use that one encoder.

Choosing on dev, scoring test once: a run can score *candidates* (a method
plus the settings it varies, :class:`Candidate`, such as a self-training
threshold or the weak labels' combiner) on a dev split passed as the scored
set, while ``final_texts`` (a test split, without its labels) only collect
each candidate's predictions; the caller picks one candidate per budget with
:func:`choose_by_dev` and scores just that one on the test labels with
:meth:`MethodResult.scored_on`. :func:`split_dev` carves a seeded dev split
from a training file that has none.

Every method is one configuration of the few-label classifier that ``selfsim
classify fit`` trains too (:class:`selfsim.tasks.classify.estimator.FewLabelClassifier`;
:func:`method_config` says which), and the fine-tune is the same step before it
(:func:`selfsim.training.setfit.finetune_encoder`), so the evaluation scores what
users run.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.readers import read_jsonl
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, NotFoundError, RecordError
from selfsim.tasks.classify.estimator import (
    Combine,
    FewLabelClassifier,
    FewLabelConfig,
    WeakLabels,
    weak_labels_from_votes,
)
from selfsim.tasks.classify.probe import ProbeConfig
from selfsim.tasks.classify.propagation import PropagationConfig
from selfsim.tasks.classify.self_training import SelfTrainingConfig
from selfsim.tasks.classify.weak import Labelled, LabellingFunction, apply_functions
from selfsim.training.setfit import ContrastiveFinetuneConfig, FinetuneReport, finetune_encoder

METHODS = ("probe", "self-train", "propagation", "finetune", "finetune+self-train", "weak", "finetune+weak")
WEAK_METHODS = ("weak", "finetune+weak")  # these need labelling functions
FINETUNE_METHODS = ("finetune", "finetune+self-train", "finetune+weak")  # these share one fine-tune per draw
SELF_TRAINING_METHODS = ("self-train", "finetune+self-train")  # these take a self-training threshold
Log = Callable[[str], None]


def read_labelled(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and labels from a TSV/CSV with a header naming ``label`` and ``text`` columns (or, without
    such a header, ``label<TAB>text`` rows), or from JSONL with ``text`` and ``label`` fields."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; check the path.")
    texts: list[str] = []
    labels: list[str] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        for location, row in read_jsonl(path, '{"text": "...", "label": "..."}', advice="fix the line"):
            if "text" not in row or "label" not in row:
                raise RecordError(path.name, location, "has no 'text' and 'label' fields", "give every line both")
            texts.append(str(row["text"]))
            labels.append(str(row["label"]))
        return texts, labels
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t"
                               else csv.QUOTE_MINIMAL))
    if not rows:
        raise RecordError(path.name, "", "is empty", "give it label and text columns")
    header = [h.strip().lower() for h in rows[0]]
    if "label" in header and "text" in header:
        label_at, text_at, body, first = header.index("label"), header.index("text"), rows[1:], 2
    else:
        label_at, text_at, body, first = 0, 1, rows, 1
    for number, row in enumerate(body, first):
        if len(row) <= max(label_at, text_at) or not row[text_at].strip():
            raise RecordError(path.name, f"line {number}", "has no label and text",
                             "write each row as label<TAB>text")
        labels.append(row[label_at].strip())
        texts.append(row[text_at])
    return texts, labels


def sample_per_class(labels: Sequence[Any], per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` randomly drawn items of every class (all of a class if it has fewer), sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=min(per_class, int((labels == c).sum())), replace=False)
              for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def split_dev(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded dev split of ``n`` rows: (``size`` dev indices, the other indices), each sorted.

    For data with a train and a test file only: the dev rows leave the training
    file, so no draw, labelled or unlabelled, ever contains them.
    """
    if not 0 < size < n:
        raise ConfigError(f"a dev split needs between 1 and {n - 1} of the {n} rows, not {size}.")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:size]), np.sort(order[size:])


@dataclass(frozen=True)
class Candidate:
    """One configuration a run scores: a method and the settings it varies (None: the run's own setting).

    ``threshold`` is the self-training τ (``self-train``, ``finetune+self-train``);
    ``combine`` how the weak methods turn votes into labels (Dawid–Skene
    ``label-model`` or ``majority`` vote).
    """

    method: str
    threshold: float | None = None
    combine: Combine | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; use some of {', '.join(METHODS)}.")
        if self.threshold is not None and self.method not in SELF_TRAINING_METHODS:
            raise ConfigError(f"{self.method!r} takes no self-training threshold; give one to "
                              f"{' or '.join(SELF_TRAINING_METHODS)}.")
        if self.combine is not None and self.method not in WEAK_METHODS:
            raise ConfigError(f"{self.method!r} takes no combiner; give one to {' or '.join(WEAK_METHODS)}.")

    @property
    def name(self) -> str:
        """The method, then the settings it varies: ``self-train t=0.8``, ``weak majority``."""
        parts = [self.method]
        if self.threshold is not None:
            parts.append(f"t={self.threshold:g}")
        if self.combine is not None:
            parts.append(self.combine)
        return " ".join(parts)

    def settings(self) -> dict[str, Any]:
        """The settings this candidate varies (empty: the run's own)."""
        found = {"threshold": self.threshold, "combine": self.combine}
        return {k: v for k, v in found.items() if v is not None}


class EmbeddingCache:
    """Embeds texts with an encoder, remembering every vector, so repeated texts cost nothing."""

    def __init__(self, encoder: Encoder, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dim) unit vectors."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            vectors = self.encoder.encode(missing, batch_size=self.batch_size, progress=progress)
            self._vectors.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def save(self, path: str | Path) -> None:
        """Write every cached vector, with its text and the encoder's name and version, to an ``.npz`` file."""
        texts = list(self._vectors)
        vectors = np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, self.encoder.dim))
        np.savez(path, texts=np.asarray(texts, dtype=object).astype(str), vectors=vectors.astype(np.float32),
                 encoder=np.asarray([self.encoder.name, self.encoder.version]))

    def load(self, path: str | Path) -> int:
        """Add the vectors of a file written by :meth:`save` by the same encoder; returns how many."""
        with np.load(path) as saved:
            if saved["encoder"].tolist() != [self.encoder.name, self.encoder.version]:
                raise ConfigError(f"{path} holds vectors of another encoder ({saved['encoder'].tolist()}); "
                                  "use a cache made with this one or none.")
            self._vectors.update(zip(saved["texts"].tolist(), saved["vectors"], strict=True))
            return len(saved["texts"])


@dataclass(frozen=True)
class FewLabelsConfig:
    """What to run: label budgets, seeds, methods, the pools and each method's settings.

    ``pool_size`` draws a seeded subset of the training texts as the pool that
    labels are sampled from and whose rest is unlabelled (None: all of them);
    ``finetune_pool`` is how many unlabelled texts are re-embedded with a
    fine-tuned encoder for ``finetune+self-train`` (the extra unlabelled texts
    first, then a seeded draw from the pool).
    """

    per_class: tuple[int, ...] = (8, 16, 64)
    seeds: int = 5
    methods: tuple[str, ...] = tuple(m for m in METHODS if m not in WEAK_METHODS)
    candidates: tuple[Candidate, ...] = ()  # when given, scored instead of ``methods`` (one each, run's settings)
    pool_size: int | None = 20000
    finetune_pool: int = 1000
    pool_seed: int = 0
    probe: ProbeConfig = ProbeConfig()
    self_training: SelfTrainingConfig = SelfTrainingConfig()
    propagation: PropagationConfig = PropagationConfig()
    finetune: ContrastiveFinetuneConfig = ContrastiveFinetuneConfig()

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"unknown method {unknown[0]!r}; use some of {', '.join(METHODS)}.")
        if not self.per_class or min(self.per_class) < 1 or self.seeds < 1:
            raise ConfigError("use at least one label per class and at least one seed.")
        names = [c.name for c in self.scored()]
        if len(set(names)) != len(names):
            raise ConfigError("give each candidate once; two have the same method and settings.")

    def scored(self) -> tuple[Candidate, ...]:
        """The candidates a run scores: ``candidates``, or one per method at the run's settings."""
        return self.candidates or tuple(Candidate(m) for m in self.methods)


@dataclass
class MethodResult:
    """One candidate (``method`` is its name) at one label budget: per-seed accuracy, macro-F1 and seconds on the
    scored split and, when the run had ``final_texts``, the predictions on them, per seed, not yet scored."""

    method: str
    per_class: int
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    candidate: Candidate | None = None
    final_predictions: list[np.ndarray] = field(default_factory=list)

    def scored_on(self, gold: Sequence[str]) -> MethodResult:
        """This candidate's kept predictions on the final texts scored against their ``gold`` labels."""
        if not self.final_predictions:
            raise ConfigError(f"{self.method!r} kept no predictions; run the evaluation with final_texts.")
        result = MethodResult(self.method, self.per_class, seconds=list(self.seconds), candidate=self.candidate)
        for predicted in self.final_predictions:
            _score(result, predicted, np.asarray(gold), 0.0)
        result.seconds = list(self.seconds)
        return result

    def summary(self) -> dict[str, Any]:
        """Means and standard deviations (in percent) plus the per-seed values."""
        settings = {} if self.candidate is None else {"base_method": self.candidate.method,
                                                      "settings": self.candidate.settings()}
        return {"method": self.method, **settings, "per_class": self.per_class, "seeds": len(self.accuracy),
                "accuracy_mean": _pct(np.mean(self.accuracy)), "accuracy_std": _pct(np.std(self.accuracy)),
                "macro_f1_mean": _pct(np.mean(self.macro_f1)), "macro_f1_std": _pct(np.std(self.macro_f1)),
                "seconds_mean": round(float(np.mean(self.seconds)), 1),
                "accuracy": [_pct(a) for a in self.accuracy], "notes": self.notes}


def choose_by_dev(results: Sequence[MethodResult]) -> MethodResult:
    """The result with the highest mean accuracy on the scored (dev) split; on a tie, the one listed first (list
    the simpler and cheaper candidates first)."""
    if not results:
        raise ConfigError("there is nothing to choose from; score at least one candidate.")
    best = max(float(np.mean(r.accuracy)) for r in results)
    return next(r for r in results if float(np.mean(r.accuracy)) == best)


def evaluate_few_labels(train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str],
                        test_labels: Sequence[str], encoder: Encoder, config: FewLabelsConfig = FewLabelsConfig(),
                        extra_unlabelled: Sequence[str] = (), cache: EmbeddingCache | None = None,
                        log: Log | None = None, functions: Sequence[LabellingFunction] = (),
                        final_texts: Sequence[str] = ()) -> list[MethodResult]:
    """Run every candidate of ``config`` at every label budget and seed; see the module docstring.

    ``extra_unlabelled`` texts (for example a dev split without its labels) join
    the unlabelled pool. ``cache`` lets a caller reuse embeddings across calls.
    ``functions`` are the labelling functions the weak methods apply.
    ``final_texts`` are texts whose labels the caller holds back (a test split,
    when ``test_texts`` is the dev split): every candidate's predictions on them
    are kept per seed (``final_predictions``), never scored here.
    """
    candidates = config.scored()
    methods = {c.method for c in candidates}
    if not functions and methods & set(WEAK_METHODS):
        raise ConfigError("the weak methods need labelling functions; give a functions file, or drop "
                          f"{' and '.join(WEAK_METHODS)}.")
    say = log or (lambda message: None)
    cache = cache or EmbeddingCache(encoder)
    pool = _pool(len(train_texts), config.pool_size, config.pool_seed)
    pool_texts = [train_texts[i] for i in pool]
    pool_labels = np.asarray([train_labels[i] for i in pool])
    test_gold = np.asarray(test_labels)
    started = time.perf_counter()
    pool_vectors = cache(pool_texts)
    test_vectors = cache(list(test_texts))
    extra_vectors = cache(list(extra_unlabelled))
    final_vectors = cache(list(final_texts)) if final_texts else None
    say(f"embedded {len(pool_texts) + len(test_texts) + len(extra_unlabelled) + len(final_texts):,} texts in "
        f"{time.perf_counter() - started:.0f} s")
    results: list[MethodResult] = []
    for k in config.per_class:
        by_name = {c.name: MethodResult(c.name, k, candidate=c if config.candidates else None) for c in candidates}
        for seed in range(config.seeds):
            labelled = sample_per_class(pool_labels, k, seed)
            rest = np.setdiff1d(np.arange(len(pool_texts)), labelled)
            unlabelled = np.concatenate([pool_vectors[rest], extra_vectors])
            x, y = pool_vectors[labelled], pool_labels[labelled]
            draw = _Draw(y, test_gold, config, seed)
            for c in candidates:
                if c.method in ("probe", "self-train", "propagation"):
                    model = draw.score(c, by_name[c.name], x, unlabelled, (test_vectors, final_vectors))
                    if c.method == "self-train":
                        by_name[c.name].notes.append(
                            f"seed {seed}: kept round {model.best_round_} of {len(model.rounds_) - 1}, "
                            f"{len(model.pseudo_index_)} pseudo-labels")
            texts = [pool_texts[i] for i in labelled]
            unlabelled_texts = [pool_texts[i] for i in rest] + list(extra_unlabelled)
            weak: dict[str, tuple[WeakLabels, float]] = {}
            for combine in dict.fromkeys(_combine(c) for c in candidates if c.method in WEAK_METHODS):
                weak[combine] = _weak_labels(functions, texts, x, y, unlabelled_texts, unlabelled, combine)
            for c in candidates:
                if c.method == "weak":
                    labels, seconds = weak[_combine(c)]
                    draw.score(c, by_name[c.name], x, unlabelled, (test_vectors, final_vectors), labels, seconds)
                    by_name[c.name].notes.append(f"seed {seed}: {labels.describe()}")
            tuned = [(c, by_name[c.name]) for c in candidates if c.method in FINETUNE_METHODS]
            if tuned:
                _finetune_run(encoder, texts, unlabelled_texts, len(extra_unlabelled), (test_texts, final_texts),
                              draw, (x, unlabelled, test_vectors, final_vectors), weak, tuned)
            say(f"{k:>3} per class, seed {seed}: " + ", ".join(
                f"{m} {100 * r.accuracy[-1]:.1f}" for m, r in by_name.items() if len(r.accuracy) > seed))
        results.extend(by_name.values())
    return results


def method_config(method: str | Candidate, config: FewLabelsConfig, seed: int) -> FewLabelConfig:
    """The few-label classifier's settings for ``method`` (a name or a :class:`Candidate`, whose settings win)
    on the draw of ``seed``: the growth the method names (``finetune+...`` methods: the part after the
    fine-tune), no held-out measurement (the scored split scores)."""
    candidate = method if isinstance(method, Candidate) else Candidate(method)
    growth = candidate.method.removeprefix("finetune").removeprefix("+")
    semi = growth if growth in ("self-train", "propagation") else "none"
    self_training = _seeded(config.self_training, seed)
    if candidate.threshold is not None:
        self_training = dataclasses.replace(self_training, threshold=candidate.threshold)
    return FewLabelConfig(semi=semi, probe=config.probe, self_training=self_training,  # type: ignore[arg-type]
                          propagation=config.propagation, combine=_combine(candidate), held_out=False)


def fit_method(method: str | Candidate, vectors: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray,
               config: FewLabelsConfig = FewLabelsConfig(), seed: int = 0,
               weak: WeakLabels | None = None) -> FewLabelClassifier:
    """The few-label classifier ``method`` (a name or a :class:`Candidate`) trains on one draw: labelled
    ``vectors``/``labels``, ``unlabelled`` vectors, and for the weak methods the ``weak`` labels of unlabelled
    rows."""
    name = method.method if isinstance(method, Candidate) else method
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; use one of {', '.join(METHODS)}.")
    if name in WEAK_METHODS and weak is None:
        raise ConfigError(f"the method {name!r} needs weak labels; apply labelling functions first.")
    return FewLabelClassifier(method_config(method, config, seed)).fit(
        vectors, labels, unlabelled=unlabelled, weak_labels=weak if name in WEAK_METHODS else None)


class _Draw:
    """One labelled draw's classes, the scored split's gold classes and the run's settings: scores candidates."""

    def __init__(self, y: np.ndarray, test_y: np.ndarray, config: FewLabelsConfig, seed: int) -> None:
        self.y, self.test_y, self.config, self.seed = y, test_y, config, seed

    def score(self, candidate: Candidate, result: MethodResult, x: np.ndarray, unlabelled: np.ndarray,
              views: tuple[np.ndarray, np.ndarray | None], weak: WeakLabels | None = None,
              seconds: float = 0.0) -> FewLabelClassifier:
        """Fit ``candidate`` on ``x`` (the draw's vectors), score it on the scored split's vectors (``views[0]``)
        and keep its predictions on the final texts' (``views[1]``, if any); ``seconds`` already spent on it
        (embedding, weak labels) count towards its time."""
        started = time.perf_counter()
        test_x, final_x = views
        model = fit_method(candidate, x, self.y, unlabelled, self.config, self.seed, weak)
        _score(result, model.predict(test_x), self.test_y, seconds + time.perf_counter() - started)
        if final_x is not None:
            result.final_predictions.append(model.predict(final_x))
        return model


def _combine(candidate: Candidate) -> Combine:
    return candidate.combine or "label-model"


def _weak_labels(functions: Sequence[LabellingFunction], texts: Sequence[str], x: np.ndarray, y: np.ndarray,
                 unlabelled_texts: Sequence[str], unlabelled: np.ndarray,
                 combine: Combine = "label-model") -> tuple[WeakLabels, float]:
    """Apply ``functions`` to the labelled and unlabelled texts and combine their votes (a Dawid–Skene label
    model with the labelled texts' classes clamped, or majority vote) into weak labels of every unlabelled text
    at least one function voted on; with the seconds it took."""
    started = time.perf_counter()
    classes = np.unique(y)
    ids = [f"labelled-{i}" for i in range(len(texts))] + [f"unlabelled-{i}" for i in range(len(unlabelled_texts))]
    votes = apply_functions(functions, ids, [*texts, *unlabelled_texts], [str(c) for c in classes],
                            np.concatenate([x, unlabelled]),
                            Labelled(ids[:len(texts)], x, [str(label) for label in y]))
    return weak_labels_from_votes(votes, y, classes, combine=combine), time.perf_counter() - started


def _finetune_run(encoder: Encoder, texts: list[str], unlabelled_texts: list[str], extra_count: int,
                  scored: tuple[Sequence[str], Sequence[str]], draw: _Draw,
                  frozen: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
                  weak: dict[str, tuple[WeakLabels, float]], tuned: list[tuple[Candidate, MethodResult]]) -> None:
    """Fine-tune the encoder on one draw's labels, then score every fine-tune candidate of ``tuned`` with it;
    ``scored`` holds the scored split's and the final texts, ``frozen`` the draw's, the unlabelled, the scored
    and the final vectors from the frozen encoder."""
    config, seed, y = draw.config, draw.seed, draw.y
    frozen_x, frozen_unlabelled, frozen_test_x, frozen_final_x = frozen
    test_texts, final_texts = scored
    started = time.perf_counter()
    with _finetuned(encoder, texts, y, config, seed) as (model, report):
        x = model.encode(texts, batch_size=64)
        test_x = model.encode(list(test_texts), batch_size=64)
        final_x = model.encode(list(final_texts), batch_size=64) if final_texts else None
        base_seconds = time.perf_counter() - started
        pool: np.ndarray | None = None
        covered: dict[int, np.ndarray] = {}  # unlabelled row -> its fine-tuned vector, shared by the combiners
        for candidate, result in tuned:
            if candidate.method == "finetune":
                draw.score(candidate, result, x, x[:0], (test_x, final_x), seconds=base_seconds)
                result.notes.append(f"seed {seed}: {report.steps} steps, loss {report.first_loss:.3f} -> "
                                    f"{report.last_loss:.3f}, {report.seconds:.0f} s")
            elif candidate.method == "finetune+self-train":
                begun = time.perf_counter()
                if pool is None:
                    pool = model.encode(_finetune_pool(unlabelled_texts, extra_count, config.finetune_pool, seed),
                                        batch_size=64)
                fitted = draw.score(candidate, result, x, pool, (test_x, final_x),
                                    seconds=base_seconds + time.perf_counter() - begun)
                result.notes.append(f"seed {seed}: kept round {fitted.best_round_}, "
                                    f"{len(fitted.pseudo_index_)} pseudo-labels")
            elif candidate.method == "finetune+weak":
                labels, weak_seconds = weak[_combine(candidate)]
                begun = time.perf_counter()
                missing = [int(i) for i in labels.index if int(i) not in covered]
                if missing:
                    covered.update(zip(missing, model.encode([unlabelled_texts[i] for i in missing], batch_size=64),
                                       strict=True))
                weak_x = np.stack([covered[int(i)] for i in labels.index]) if len(labels.index) else x[:0]
                # Only the weakly labelled unlabelled texts are embedded with the fine-tuned encoder; they are
                # the unlabelled rows here, so the weak labels index them in order.
                rows = WeakLabels(np.arange(len(labels.index)), labels.labels, labels.confidence)
                final_pair = None if final_x is None or frozen_final_x is None else _side_by_side(frozen_final_x,
                                                                                                 final_x)
                draw.score(candidate, result, _side_by_side(frozen_x, x),
                           _side_by_side(frozen_unlabelled[labels.index], weak_x),
                           (_side_by_side(frozen_test_x, test_x), final_pair), rows,
                           weak_seconds + base_seconds + time.perf_counter() - begun)
                result.notes.append(f"seed {seed}: {labels.describe()}; encoder fine-tuned on the "
                                    f"{len(texts)} drawn labels, {report.steps} steps")


def _side_by_side(frozen: np.ndarray, tuned: np.ndarray) -> np.ndarray:
    """Frozen and fine-tuned unit vectors concatenated, scaled back to unit length; (N, D1 + D2)."""
    return np.concatenate([frozen, tuned], axis=1) / np.sqrt(2.0)


@contextmanager
def _finetuned(encoder: Encoder, texts: list[str], labels: np.ndarray, config: FewLabelsConfig,
               seed: int) -> Iterator[tuple[Encoder, FinetuneReport]]:
    """The encoder contrastively fine-tuned on ``texts``/``labels`` in a scratch directory, removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="selfsim-setfit-"))
    try:
        yield finetune_encoder(encoder, texts, labels, scratch / "model", _seeded(config.finetune, seed),
                               advice="drop the finetune methods or use one.")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _finetune_pool(unlabelled_texts: list[str], extra_count: int, size: int, seed: int) -> list[str]:
    """The extra unlabelled texts (last ``extra_count``; in-domain, such as a dev split) first, then a seeded
    draw from the rest of the pool, ``size`` in all."""
    extra = unlabelled_texts[len(unlabelled_texts) - extra_count:] if extra_count else []
    rest = unlabelled_texts[:len(unlabelled_texts) - extra_count]
    room = max(0, size - len(extra))
    drawn = np.random.default_rng(seed).choice(len(rest), size=min(room, len(rest)), replace=False)
    return [*extra[:size], *(rest[i] for i in drawn)]


def _score(result: MethodResult, predicted: np.ndarray, gold: np.ndarray, seconds: float) -> None:
    from sklearn.metrics import f1_score

    result.accuracy.append(float(np.mean(predicted == gold)))
    result.macro_f1.append(float(f1_score(gold, predicted, average="macro", zero_division=0)))
    result.seconds.append(seconds)


def _pool(n: int, size: int | None, seed: int) -> np.ndarray:
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _seeded(config: Any, seed: int) -> Any:
    return dataclasses.replace(config, seed=seed)


def _pct(value: float) -> float:
    return round(100 * float(value), 2)
