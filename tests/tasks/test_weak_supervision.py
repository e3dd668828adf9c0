"""Labelling functions, their analysis, the Dawid-Skene label model and majority vote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsim.errors import SelfsimError
from selfsim.tasks.classify.label_model import ABSTAIN, DawidSkene, DawidSkeneConfig, MajorityVote, find_exceptions
from selfsim.tasks.classify.weak import (
    CallableFunction,
    KeywordFunction,
    Labelled,
    LabellingFunctionError,
    NearestLabelledFunction,
    RegexFunction,
    analyse,
    apply_functions,
    load_functions,
)

# (accuracy when voting, chance of voting) for five functions on a binary task
FUNCTIONS = [(0.95, 0.3), (0.9, 0.35), (0.65, 0.6), (0.6, 0.6), (0.55, 0.7)]


def synthetic_votes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    votes = np.full((n, len(FUNCTIONS)), ABSTAIN)
    for j, (accuracy, coverage) in enumerate(FUNCTIONS):
        speaks = rng.random(n) < coverage
        right = rng.random(n) < accuracy
        votes[speaks, j] = np.where(right, truth, 1 - truth)[speaks]
    return votes, truth


def test_label_model_recovers_function_accuracies_and_beats_majority_vote() -> None:
    votes, truth = synthetic_votes(1500, seed=0)
    model = DawidSkene(2).fit(votes)
    assert np.max(np.abs(model.accuracy_ - [a for a, _ in FUNCTIONS])) < 0.06
    covered = (votes != ABSTAIN).any(axis=1)
    model_accuracy = np.mean(model.predict(votes)[covered] == truth[covered])
    vote_accuracy = np.mean(MajorityVote(2).predict(votes)[covered] == truth[covered])
    assert model_accuracy > vote_accuracy + 0.03
    assert np.allclose(model.predict_proba(votes).sum(axis=1), 1.0)


def test_label_model_reads_one_sided_keyword_functions_by_when_they_speak() -> None:
    # Functions that only ever vote one class: their information is in when they abstain.
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 1500)
    votes = np.full((1500, 4), ABSTAIN)
    for j, (label, accuracy, rate) in enumerate([(1, 0.95, 0.3), (0, 0.95, 0.3), (1, 0.6, 0.5), (0, 0.6, 0.5)]):
        chance = np.where(truth == label, rate, rate * (1 - accuracy) / accuracy)
        votes[rng.random(1500) < chance, j] = label
    covered = (votes != ABSTAIN).any(axis=1)
    model = DawidSkene(2).fit(votes)
    model_accuracy = np.mean(model.predict(votes)[covered] == truth[covered])
    vote_accuracy = np.mean(MajorityVote(2).predict(votes)[covered] == truth[covered])
    assert model_accuracy > vote_accuracy
    assert model.accuracy_[0] > model.accuracy_[2] and model.accuracy_[1] > model.accuracy_[3]


def test_label_model_lets_an_exception_overrule_the_broad_function_it_lives_inside() -> None:
    # "good" (broad, votes 1) and "not ... good" (narrow, votes 0, fires only where "good" fires).
    rng = np.random.default_rng(0)
    n = 20000
    truth = rng.integers(0, 2, n)
    votes = np.full((n, 4), ABSTAIN)
    votes[rng.random(n) < np.where(truth == 1, 0.1, 0.01), 0] = 1
    votes[rng.random(n) < np.where(truth == 0, 0.1, 0.01), 1] = 0
    broad = rng.random(n) < np.where(truth == 1, 0.12, 0.04)
    votes[broad, 2] = 1
    votes[broad & (rng.random(n) < np.where(truth == 0, 0.6, 0.1)), 3] = 0
    assert find_exceptions(votes) == [(3, 2)]
    covered = (votes != ABSTAIN).any(axis=1)

    def accuracy(model: DawidSkene | MajorityVote) -> float:
        return float(np.mean(model.predict(votes)[covered] == truth[covered]))

    with_exceptions = DawidSkene(2).fit(votes)
    without = DawidSkene(2, DawidSkeneConfig(exceptions=False)).fit(votes)
    assert with_exceptions.exceptions_ == [(3, 2)] and without.exceptions_ == []
    assert accuracy(with_exceptions) > accuracy(without) + 0.02
    assert accuracy(with_exceptions) > accuracy(MajorityVote(2).fit(votes)) + 0.01
    assert with_exceptions.accuracy_[3] > without.accuracy_[3] + 0.1  # the true accuracy is 2/3


def test_majority_vote_splits_ties_and_uses_the_prior_for_silent_items() -> None:
    votes = np.array([[0, 0, 1], [0, 1, ABSTAIN], [ABSTAIN, ABSTAIN, ABSTAIN]])
    probabilities = MajorityVote(2, class_prior=np.array([0.7, 0.3])).predict_proba(votes)
    assert np.allclose(probabilities, [[1, 0], [0.5, 0.5], [0.7, 0.3]])


def test_keyword_regex_and_callable_functions_vote_or_abstain() -> None:
    texts = ["A great film", "not good at all", "greatness is rare", "dull", "GREAT"]
    functions = [KeywordFunction("praise", "pos", ["great", "superb"]),
                 RegexFunction("negated", "neg", r"\bnot (good|funny)\b"),
                 CallableFunction(lambda t: "neg" if t == "dull" else None, name="dull")]
    votes = apply_functions(functions, [str(i) for i in range(5)], texts, ["neg", "pos"])
    assert votes.tolist() == [[1, -1, -1], [-1, 0, -1], [-1, -1, -1], [-1, -1, 0], [1, -1, -1]]


def test_nearest_labelled_function_lends_a_class_above_the_threshold_and_never_its_own() -> None:
    vectors = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]
    labelled = Labelled(["a", "c"], np.eye(3, dtype=np.float32)[[0, 1]], ["x", "y"])
    votes = NearestLabelledFunction(threshold=0.9).apply(["a", "b", "c", "d"], ["", "", "", ""], vectors, labelled)
    assert votes == [None, "x", None, None]  # a's only match is itself; d is near no labelled item


def test_analysis_reports_coverage_overlaps_conflicts_and_accuracy() -> None:
    votes = np.array([[0, 0], [0, 1], [1, ABSTAIN], [ABSTAIN, ABSTAIN]])
    gold = np.array([0, 1, 1, ABSTAIN])
    first, second = analyse(votes, ["f", "g"], gold)
    assert (first.coverage, first.overlaps, first.conflicts) == (0.75, 0.5, 0.25)
    assert first.accuracy == pytest.approx(2 / 3) and first.gold_votes == 3
    assert (second.coverage, second.conflicts, second.accuracy) == (0.5, 0.25, 1.0)


def test_functions_load_from_yaml_and_python(tmp_path: Path) -> None:
    (tmp_path / "lf.yaml").write_text(
        "functions:\n"
        "  - {name: praise, label: pos, keywords: [great, superb]}\n"
        "  - {name: negated, label: neg, regex: '\\bnot good\\b'}\n"
        "  - {name: neighbour, nearest: {threshold: 0.8}}\n")
    loaded = load_functions(tmp_path / "lf.yaml")
    assert [f.name for f in loaded] == ["praise", "negated", "neighbour"]
    assert isinstance(loaded[2], NearestLabelledFunction) and loaded[2].threshold == 0.8
    (tmp_path / "lf.py").write_text("def lf_short(text):\n    return 'neg' if len(text) < 5 else None\n")
    (only,) = load_functions(tmp_path / "lf.py")
    assert only.name == "lf_short" and only.apply(["1"], ["bad"], None, None) == ["neg"]


def test_a_labelling_function_that_raises_is_one_clear_sentence() -> None:
    def broken(text: str) -> str:
        raise ValueError("boom")

    with pytest.raises(LabellingFunctionError) as caught:
        apply_functions([CallableFunction(broken)], ["item-7"], ["text"], ["a", "b"])
    message = str(caught.value)
    assert "'broken'" in message and "item-7" in message and "ValueError" in message
    assert message.endswith(".") and message.count(". ") == 0


def test_a_function_voting_an_unknown_class_or_declared_badly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabellingFunctionError, match="not a class"):
        apply_functions([KeywordFunction("k", "maybe", ["x"])], ["1"], ["x"], ["a", "b"])
    (tmp_path / "bad.yaml").write_text("functions:\n  - {name: k, keywords: [x]}\n")
    with pytest.raises(SelfsimError, match="has no label"):
        load_functions(tmp_path / "bad.yaml")
    with pytest.raises(SelfsimError, match="bad regular expression"):
        RegexFunction("r", "a", "(")


def test_known_labels_stay_fixed_in_the_label_model() -> None:
    votes, truth = synthetic_votes(600, seed=2)
    known = np.full(600, ABSTAIN)
    known[:50] = truth[:50]
    model = DawidSkene(2).fit(votes, known)
    assert np.max(np.abs(model.accuracy_ - [a for a, _ in FUNCTIONS])) < 0.1
    with pytest.raises(SelfsimError, match="one class index"):
        DawidSkene(2).fit(votes, np.full(10, ABSTAIN))
