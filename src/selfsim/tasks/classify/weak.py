"""Weak supervision: labelling functions people write, applied to a collection, analysed and combined.

A labelling function looks at one item and either names a class or abstains.
Four kinds:

- ``keywords``: any of these words (whole words, case-insensitive) -> a class;
- ``regex``: a regular expression matches -> a class;
- a Python callable ``text -> class name or None``;
- ``nearest``: the most similar *labelled* item, if its cosine similarity is
  at least ``threshold``, lends its class.

They are declared in a YAML file::

    functions:
      - {name: praise, label: positive, keywords: [great, superb, moving]}
      - {name: not_good, label: negative, regex: "\\bnot (good|funny)\\b"}
      - {name: neighbour, nearest: {threshold: 0.85}}

or in a Python file that defines ``LABELLING_FUNCTIONS`` (a list of
functions or :class:`LabellingFunction` objects) or functions named ``lf_*``.
:func:`analyse` reports each function's coverage, overlaps, conflicts and,
where gold labels exist, accuracy; :mod:`selfsim.tasks.classify.label_model` combines
the votes.
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.tasks.classify.label_model import ABSTAIN, DawidSkene, MajorityVote


class LabellingFunctionError(InputError):
    """A labelling function that raised, returned something unusable, or is declared wrongly."""


@dataclass(frozen=True)
class Labelled:
    """The labelled items a ``nearest`` function may lend classes from."""

    ids: list[str]
    vectors: np.ndarray  # (L, D) unit vectors
    labels: list[str]


class LabellingFunction:
    """Base class: ``name`` and :meth:`apply`, which returns one class name or None (abstain) per item."""

    name: str = "function"

    def apply(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray | None,
              labelled: Labelled | None) -> list[str | None]:
        """The vote of this function on each item."""
        raise NotImplementedError

    @property
    def needs_vectors(self) -> bool:
        """Whether :meth:`apply` needs the items' vectors."""
        return False


class KeywordFunction(LabellingFunction):
    """Votes ``label`` when the text holds any of ``keywords`` as whole words or phrases."""

    def __init__(self, name: str, label: str, keywords: Sequence[str], case_sensitive: bool = False) -> None:
        if not keywords:
            raise LabellingFunctionError(f"the labelling function {name!r} has no keywords; list at least one.")
        self.name, self.label, self.keywords = name, str(label), [str(k) for k in keywords]
        words = "|".join(re.escape(k) for k in sorted(self.keywords, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{words})(?!\w)", 0 if case_sensitive else re.IGNORECASE)

    def apply(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray | None,
              labelled: Labelled | None) -> list[str | None]:
        """``label`` where a keyword occurs, else None."""
        return [self.label if self._pattern.search(text) else None for text in texts]


class RegexFunction(LabellingFunction):
    """Votes ``label`` when ``pattern`` matches anywhere in the text (case-insensitive unless told)."""

    def __init__(self, name: str, label: str, pattern: str, case_sensitive: bool = False) -> None:
        try:
            self._pattern = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
        except re.error as error:
            raise LabellingFunctionError(f"the labelling function {name!r} has a bad regular expression "
                                         f"({error}); fix the pattern.") from None
        self.name, self.label, self.pattern = name, str(label), pattern

    def apply(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray | None,
              labelled: Labelled | None) -> list[str | None]:
        """``label`` where the pattern matches, else None."""
        return [self.label if self._pattern.search(text) else None for text in texts]


class CallableFunction(LabellingFunction):
    """Wraps a Python function ``text -> class name or None``."""

    def __init__(self, function: Callable[[str], Any], name: str | None = None) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", "function")

    def apply(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray | None,
              labelled: Labelled | None) -> list[str | None]:
        """The function's answer on each text; an exception becomes one clear sentence naming the item."""
        votes: list[str | None] = []
        for item_id, text in zip(ids, texts, strict=True):
            try:
                vote = self.function(text)
            except Exception as error:  # the user's code: report which function and which item
                raise LabellingFunctionError(
                    f"the labelling function {self.name!r} raised {type(error).__name__} ({error}) on item "
                    f"{item_id!r}; fix it, or return None to abstain.") from None
            votes.append(None if vote is None or vote == "" else str(vote))
        return votes


class NearestLabelledFunction(LabellingFunction):
    """Lends the class of the most similar labelled item when the cosine similarity is at least ``threshold``."""

    def __init__(self, name: str = "nearest", threshold: float = 0.8) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise LabellingFunctionError(f"the threshold of {name!r} is a cosine similarity; use -1..1, "
                                         f"not {threshold}.")
        self.name, self.threshold = name, float(threshold)

    @property
    def needs_vectors(self) -> bool:
        """Always: similarity is measured between vectors."""
        return True

    def apply(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray | None,
              labelled: Labelled | None) -> list[str | None]:
        """The nearest other labelled item's class where it is similar enough, else None."""
        if labelled is None or not labelled.ids or vectors is None or len(vectors) == 0:
            return [None] * len(texts)
        similarity = np.asarray(vectors, dtype=np.float32) @ labelled.vectors.T  # (N, L)
        position = {item_id: column for column, item_id in enumerate(labelled.ids)}
        for row, item_id in enumerate(ids):  # an item's own label is not evidence about it
            if item_id in position:
                similarity[row, position[item_id]] = -np.inf
        best = similarity.argmax(axis=1)
        score = similarity[np.arange(len(best)), best]
        return [labelled.labels[b] if s >= self.threshold else None for b, s in zip(best, score, strict=True)]


# -- loading ----------------------------------------------------------------------------------------


def load_functions(path: str | Path) -> list[LabellingFunction]:
    """The labelling functions declared in a YAML (``.yaml``/``.yml``) or Python (``.py``) file."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; give a .yaml or .py file of labelling functions.")
    if path.suffix.lower() in (".yaml", ".yml"):
        functions = _from_yaml(path)
    elif path.suffix.lower() == ".py":
        functions = _from_python(path)
    else:
        raise ConfigError(f"cannot read labelling functions from {path.name}; use a .yaml or .py file.")
    if not functions:
        raise LabellingFunctionError(f"{path.name} declares no labelling functions; add some (see "
                                     "`selfsim classify weak --help`).")
    names = [f.name for f in functions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise LabellingFunctionError(f"two labelling functions are called {repeated[0]!r}; give each its own name.")
    return functions


def function_from_spec(spec: dict[str, Any], position: int = 0) -> LabellingFunction:
    """One function from its YAML mapping (``name`` plus ``keywords``, ``regex`` or ``nearest``)."""
    if not isinstance(spec, dict):
        raise LabellingFunctionError(f"labelling function #{position + 1} is not a mapping; write it as "
                                     "{name: ..., label: ..., keywords: [...]}.")
    name = str(spec.get("name") or f"function_{position + 1}")
    kinds = [k for k in ("keywords", "regex", "nearest") if k in spec]
    if len(kinds) != 1:
        raise LabellingFunctionError(f"the labelling function {name!r} must have exactly one of keywords, "
                                     "regex or nearest.")
    kind = kinds[0]
    if kind == "nearest":
        options = spec["nearest"] or {}
        return NearestLabelledFunction(name, float(options.get("threshold", 0.8)))
    if "label" not in spec:
        raise LabellingFunctionError(f"the labelling function {name!r} has no label; say which class it votes for.")
    case_sensitive = bool(spec.get("case_sensitive", False))
    if kind == "keywords":
        keywords = spec["keywords"]
        if isinstance(keywords, str):
            keywords = [keywords]
        return KeywordFunction(name, spec["label"], keywords, case_sensitive)
    return RegexFunction(name, spec["label"], str(spec["regex"]), case_sensitive)


def _from_yaml(path: Path) -> list[LabellingFunction]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise LabellingFunctionError(f"{path.name} is not valid YAML ({str(error).splitlines()[0]}); "
                                     "fix the file.") from None
    specs = document.get("functions") if isinstance(document, dict) else document
    if not isinstance(specs, list):
        raise LabellingFunctionError(f"{path.name} must hold a list under 'functions'; see the docs for the layout.")
    return [function_from_spec(spec, position) for position, spec in enumerate(specs)]


def _from_python(path: Path) -> list[LabellingFunction]:
    try:
        namespace = runpy.run_path(str(path))
    except Exception as error:  # the user's file: say which and why, not where in runpy
        raise LabellingFunctionError(f"{path.name} failed to load ({type(error).__name__}: {error}); "
                                     "fix the file.") from None
    declared = namespace.get("LABELLING_FUNCTIONS")
    if declared is None:
        declared = [v for k, v in namespace.items() if k.startswith("lf_") and callable(v)]
    functions: list[LabellingFunction] = []
    for entry in declared:
        if isinstance(entry, LabellingFunction):
            functions.append(entry)
        elif isinstance(entry, dict):
            functions.append(function_from_spec(entry, len(functions)))
        elif callable(entry):
            functions.append(CallableFunction(entry))
        else:
            raise LabellingFunctionError(f"{path.name} lists {entry!r}, which is not a labelling function; "
                                         "list functions or LabellingFunction objects.")
    return functions


# -- applying and analysing -------------------------------------------------------------------------


def apply_functions(functions: Sequence[LabellingFunction], ids: Sequence[str], texts: Sequence[str],
                    classes: Sequence[str], vectors: np.ndarray | None = None,
                    labelled: Labelled | None = None) -> np.ndarray:
    """The vote matrix (N items, M functions): class indices into ``classes``, -1 for abstain.

    A function that names a class not in ``classes`` is an error (one sentence
    naming the function and the class).
    """
    index = {str(c): i for i, c in enumerate(classes)}
    votes = np.full((len(texts), len(functions)), ABSTAIN, dtype=np.int64)
    for column, function in enumerate(functions):
        answers = function.apply(ids, texts, vectors, labelled)
        if len(answers) != len(texts):
            raise LabellingFunctionError(f"the labelling function {function.name!r} returned {len(answers)} "
                                         f"votes for {len(texts)} items; return one per item.")
        for row, answer in enumerate(answers):
            if answer is None:
                continue
            if answer not in index:
                known = ", ".join(map(str, classes))
                raise LabellingFunctionError(f"the labelling function {function.name!r} voted {answer!r}, which "
                                             f"is not a class of this label set ({known}); fix its label.")
            votes[row, column] = index[answer]
    return votes


def fit_combiner(votes: np.ndarray, n_classes: int, combine: Literal["label-model", "majority"] = "label-model",
                 known: np.ndarray | None = None) -> DawidSkene | MajorityVote:
    """The combiner ``combine`` names, fitted on ``votes`` (N, F); ``known`` (N,) clamps the class index of
    items whose class is known (-1 elsewhere; the label model only)."""
    if combine == "label-model":
        return DawidSkene(n_classes).fit(votes, known=known)
    if combine == "majority":
        return MajorityVote(n_classes).fit(votes)
    raise ConfigError(f"unknown way to combine votes {combine!r}; use label-model or majority.")


class WeakLabeller:
    """Labelling functions' votes combined into probabilistic labels: the weak supervision ``classify weak``
    runs over a collection (the few-label classifier combines votes it is given the same way).

    ``combine`` is ``label-model`` (Dawid–Skene) or ``majority``. :meth:`fit` sets ``votes_`` (N, F) class
    indices into ``classes`` (-1 abstains), ``model_`` (the fitted combiner), ``probabilities_`` (N, C) and
    ``covered_`` (N,) — whether any function voted on the item.
    """

    def __init__(self, functions: Sequence[LabellingFunction], classes: Sequence[str],
                 combine: Literal["label-model", "majority"] = "label-model") -> None:
        self.functions = functions
        self.classes = classes
        self.combine = combine

    def fit(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray | None = None,
            labelled: Labelled | None = None, known: np.ndarray | None = None) -> WeakLabeller:
        """Apply the functions to the items and fit the combiner on their votes; ``known`` (N,) clamps the class
        index of items whose class is known (-1 elsewhere; the label model only)."""
        self.votes_ = apply_functions(self.functions, ids, texts, self.classes, vectors, labelled)
        self.model_ = fit_combiner(self.votes_, len(self.classes), self.combine, known)
        self.probabilities_ = self.model_.predict_proba(self.votes_)
        self.covered_ = (self.votes_ != ABSTAIN).any(axis=1)
        return self


def function_classes(functions: Sequence[LabellingFunction]) -> list[str]:
    """The classes the keyword and regex functions vote for, sorted."""
    return sorted({f.label for f in functions if isinstance(f, KeywordFunction | RegexFunction)})


@dataclass(frozen=True)
class FunctionReport:
    """One labelling function's coverage, overlaps and conflicts (fractions of all items), and its accuracy
    on the items with gold labels where it voted (None when it voted on none of them)."""

    name: str
    coverage: float
    overlaps: float
    conflicts: float
    accuracy: float | None
    gold_votes: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def analyse(votes: np.ndarray, names: Sequence[str], gold: np.ndarray | None = None) -> list[FunctionReport]:
    """Coverage, overlaps, conflicts and accuracy of each function (as Snorkel's LFAnalysis reports).

    ``gold`` holds class indices per item, -1 where an item has no gold label.
    """
    votes = np.asarray(votes)
    n = max(len(votes), 1)
    voted = votes != ABSTAIN
    reports = []
    for j, name in enumerate(names):
        others = np.delete(votes, j, axis=1)
        others_voted = others != ABSTAIN
        mine = voted[:, j]
        overlap = mine & others_voted.any(axis=1)
        conflict = mine & (others_voted & (others != votes[:, [j]])).any(axis=1)
        accuracy, judged = None, 0
        if gold is not None:
            checked = mine & (np.asarray(gold) != ABSTAIN)
            judged = int(checked.sum())
            if judged:
                accuracy = float(np.mean(votes[checked, j] == np.asarray(gold)[checked]))
        reports.append(FunctionReport(name, float(mine.sum() / n), float(overlap.sum() / n),
                                      float(conflict.sum() / n), accuracy, judged))
    return reports
