"""Self-training, label propagation and the probe on synthetic vectors with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from planted import tilting_clouds

from selfsim.tasks.classify.probe import LinearProbe, ProbeConfig, TrainingDataError
from selfsim.tasks.classify.propagation import LabelPropagation
from selfsim.tasks.classify.self_training import SelfTrainer, SelfTrainingConfig, select_confident


def two_clusters(n: int, seed: int, dim: int = 8, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clusters on either side of the first axis, as unit vectors; labels 'a' and 'b'."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    centre = np.zeros(dim)
    centre[0] = 0.6
    x = np.where(y[:, None] == 1, centre, -centre) + rng.normal(0, spread, (n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.where(y == 1, "b", "a")


def few(y: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)])


def test_self_training_on_two_clusters_passes_a_known_accuracy() -> None:
    x, y = two_clusters(300, seed=1, spread=0.35)
    test_x, test_y = two_clusters(400, seed=2, spread=0.35)
    labelled = few(y, 3)
    unlabelled = np.setdiff1d(np.arange(len(y)), labelled)
    probe = LinearProbe().fit(x[labelled], y[labelled])
    trainer = SelfTrainer(SelfTrainingConfig(max_rounds=3)).fit(x[labelled], y[labelled], x[unlabelled])
    probe_accuracy = np.mean(probe.predict(test_x) == test_y)
    accuracy = np.mean(trainer.predict(test_x) == test_y)
    assert accuracy >= 0.93  # the Bayes rate of these clusters is about 0.956
    assert accuracy >= probe_accuracy
    assert trainer.best_round_ >= 1 and len(trainer.pseudo_index_) > 50
    assert trainer.rounds_[trainer.best_round_].kept


def test_a_round_that_worsens_held_out_accuracy_is_rolled_back() -> None:
    x, y, unlabelled, held_out = tilting_clouds()  # its docstring tells the story
    probe = ProbeConfig(c=100.0, calibrate=False)
    trainer = SelfTrainer(SelfTrainingConfig(threshold=0.6), probe).fit(
        x, y, unlabelled, validation=held_out)
    assert trainer.rounds_[0].score == 1.0
    assert trainer.rounds_[1].score is not None and trainer.rounds_[1].score < 1.0
    assert not trainer.rounds_[1].kept and "rolled back" in trainer.rounds_[1].note
    assert trainer.best_round_ == 0 and len(trainer.pseudo_index_) == 0
    round_zero = LinearProbe(probe).fit(x, y)
    assert np.array_equal(trainer.predict(held_out[0]), round_zero.predict(held_out[0]))


def test_threshold_keeps_exactly_the_items_at_or_above_it() -> None:
    probabilities = np.array([[0.95, 0.05], [0.9, 0.1], [0.89999, 0.10001], [0.2, 0.8], [0.05, 0.95], [0.5, 0.5]])
    picked = select_confident(probabilities, np.array(["a", "b"]), threshold=0.9)
    assert picked.tolist() == [0, 1, 4]


def test_self_training_accepts_exactly_what_the_previous_round_was_sure_of() -> None:
    x, y = two_clusters(120, seed=3)
    labelled = few(y, 4)
    unlabelled = x[np.setdiff1d(np.arange(len(y)), labelled)]
    config = SelfTrainingConfig(threshold=0.8, max_rounds=1, max_class_share=100.0)
    trainer = SelfTrainer(config).fit(x[labelled], y[labelled], unlabelled)
    expected = np.flatnonzero(LinearProbe().fit(x[labelled], y[labelled]).predict_proba(unlabelled).max(axis=1) >= 0.8)
    assert trainer.rounds_[1].accepted == len(expected)


def test_per_class_caps_stop_one_class_swallowing_the_rest() -> None:
    probabilities = np.array([[0.99, 0.01]] * 90 + [[0.02, 0.98]] * 10)
    picked = select_confident(probabilities, np.array(["a", "b"]), 0.9, class_prior=np.array([0.5, 0.5]),
                              max_class_share=1.2)
    taken_a = int(np.sum(probabilities[picked, 0] > 0.5))
    assert taken_a == 60 and len(picked) == 70  # 1.2 x 50% of the 100 eligible; b keeps all 10
    assert select_confident(probabilities, np.array(["a", "b"]), 0.9, max_per_class=5).tolist() == [
        0, 1, 2, 3, 4, 90, 91, 92, 93, 94]


def test_label_propagation_beats_the_bare_probe_on_two_clusters() -> None:
    x, y = two_clusters(300, seed=4, spread=0.35)
    test_x, test_y = two_clusters(300, seed=5, spread=0.35)
    labelled = few(y, 2)
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    propagation = LabelPropagation().fit(x[labelled], y[labelled], x[rest])
    assert np.mean(propagation.predict(test_x) == test_y) >= 0.9
    assert np.mean(propagation.pseudo_labels_ == y[rest][propagation.pseudo_index_]) >= 0.9


def test_probe_probabilities_are_calibrated_and_survive_saving(tmp_path) -> None:
    x, y = two_clusters(200, seed=6)
    probe = LinearProbe().fit(x, y)
    probabilities = probe.predict_proba(x)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probe.temperature_ != 1.0
    # calibrated: mean confidence is close to accuracy on data like the training data
    accuracy = np.mean(probe.predict(x) == y)
    assert abs(probabilities.max(axis=1).mean() - accuracy) < 0.08
    loaded = LinearProbe.load(probe.save(tmp_path / "probe"))
    assert np.allclose(loaded.predict_proba(x), probabilities, atol=1e-5)
    assert loaded.classes_.tolist() == ["a", "b"]


def test_a_single_class_training_set_is_one_clear_sentence() -> None:
    x, _ = two_clusters(10, seed=7)
    with pytest.raises(TrainingDataError) as caught:
        LinearProbe().fit(x, ["a"] * 10)
    message = str(caught.value)
    assert "at least two classes" in message and message.endswith(".") and message.count(". ") == 0
    with pytest.raises(TrainingDataError):
        SelfTrainer().fit(x, ["a"] * 10, x)
