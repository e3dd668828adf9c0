"""The few-label classifier estimator on small seeded arrays, and the two paths that train it agreeing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from planted import tilting_clouds

from selfsim import Collection
from selfsim.app import ClassifyConfig
from selfsim.errors import ConfigError
from selfsim.evaluation.classify import FewLabelsConfig, fit_method, method_config
from selfsim.store.labels import Label
from selfsim.tasks.classify.estimator import FewLabelClassifier, FewLabelConfig, WeakLabels, weak_labels_from_votes
from selfsim.tasks.classify.label_model import ABSTAIN
from selfsim.tasks.classify.probe import HeldOutAccuracy, LinearProbe, ProbeConfig
from selfsim.tasks.classify.self_training import SelfTrainingConfig


def clusters(n: int, seed: int, classes: str = "abc", dim: int = 8, spread: float = 0.35) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """One Gaussian cluster per class around its own axis, as unit vectors."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(classes), n)
    x = np.eye(dim)[y] + rng.normal(0, spread, (n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.asarray(list(classes))[y]


def few(y: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)])


def test_fit_returns_itself_and_predicts_one_row_per_vector() -> None:
    x, y = clusters(90, seed=0)
    labelled = few(y, 4)
    model = FewLabelClassifier()
    assert vars(model) == {"config": FewLabelConfig(), "checkpoint_dir": None}  # __init__ only stores parameters
    assert model.fit(x[labelled], y[labelled], unlabelled=np.delete(x, labelled, axis=0)) is model
    probabilities = model.predict_proba(x)
    assert probabilities.shape == (90, 3) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert model.predict(x).shape == (90,) and set(model.predict(x)) <= {"a", "b", "c"}
    assert model.classes_.tolist() == ["a", "b", "c"] and isinstance(model.head_, LinearProbe)
    assert isinstance(model.held_out_, HeldOutAccuracy) and model.held_out_.judged == 12
    assert model.weak_ is None and model.rounds_ == [] and model.best_round_ == 0
    assert len(model.pseudo_index_) == len(model.pseudo_labels_) == len(model.pseudo_confidence_) == 0
    assert np.mean(model.predict(x) == y) >= 0.9


def test_self_training_accepts_confident_pseudo_labels() -> None:
    x, y = clusters(150, seed=1, classes="ab")
    labelled = few(y, 3)
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    config = FewLabelConfig(semi="self-train", self_training=SelfTrainingConfig(threshold=0.8, max_rounds=2))
    model = FewLabelClassifier(config).fit(x[labelled], y[labelled], unlabelled=x[rest])
    assert model.best_round_ >= 1 and model.rounds_[0].round == 0 and model.rounds_[model.best_round_].kept
    assert len(model.pseudo_index_) > 50 and np.all(model.pseudo_confidence_ >= 0.8)
    assert np.mean(model.pseudo_labels_ == y[rest][model.pseudo_index_]) >= 0.95  # rows of the unlabelled


def test_self_training_rolls_back_a_round_that_hurts() -> None:
    x, y, unlabelled, validation = tilting_clouds()
    probe = ProbeConfig(c=100.0, calibrate=False)
    config = FewLabelConfig(semi="self-train", probe=probe, self_training=SelfTrainingConfig(threshold=0.6),
                            held_out=False)
    model = FewLabelClassifier(config).fit(x, y, unlabelled=unlabelled, validation=validation)
    assert not model.rounds_[1].kept and "rolled back" in model.rounds_[1].note
    assert model.best_round_ == 0 and len(model.pseudo_index_) == 0 and model.held_out_ is None
    assert np.array_equal(model.predict(validation[0]), LinearProbe(probe).fit(x, y).predict(validation[0]))


def test_propagation_labels_a_planted_cluster() -> None:
    # One labelled item per class; a tight unlabelled cluster around "b"'s item and a loose spread elsewhere.
    rng = np.random.default_rng(2)
    centres = np.eye(4)[:2]
    x = centres.copy()
    y = np.array(["a", "b"])
    planted = centres[1] + rng.normal(0, 0.05, (30, 4))
    around_a = centres[0] + rng.normal(0, 0.05, (30, 4))
    unlabelled = np.vstack([around_a, planted])
    model = FewLabelClassifier(FewLabelConfig(semi="propagation", held_out=False)).fit(x, y, unlabelled=unlabelled)
    labelled_as = dict(zip(model.pseudo_index_.tolist(), model.pseudo_labels_.tolist(), strict=True))
    assert set(range(30, 60)) <= set(labelled_as) and {labelled_as[r] for r in range(30, 60)} == {"b"}
    assert {labelled_as[r] for r in range(30) if r in labelled_as} <= {"a"}
    assert np.all(model.pseudo_confidence_ >= 0.7) and model.predict(planted).tolist() == ["b"] * 30


def test_weak_votes_join_the_labels_untrusted_and_weighted_by_confidence() -> None:
    x, y = clusters(60, seed=3, classes="ab")
    labelled = few(y, 3)
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    # One function votes each unlabelled row's true class on every other row and abstains on the rest;
    # on the labelled rows it votes their class.
    classes = np.array(["a", "b"])
    truth = np.searchsorted(classes, np.concatenate([y[labelled], y[rest]]))
    votes = np.where(np.arange(len(truth)) % 2 == 0, truth, ABSTAIN)[:, None]
    votes[: len(labelled), 0] = truth[: len(labelled)]
    model = FewLabelClassifier().fit(x[labelled], y[labelled], unlabelled=x[rest], weak_votes=votes)
    covered = np.flatnonzero(votes[len(labelled):, 0] != ABSTAIN)
    assert model.weak_ is not None and np.array_equal(model.weak_.index, covered)
    assert np.array_equal(model.weak_.labels, y[rest][covered]) and np.all(model.weak_.confidence > 0.5)
    # the same as the head on labelled + weak rows by hand: weak rows weighted by confidence, never trusted
    by_hand = LinearProbe().fit(np.concatenate([x[labelled], x[rest][covered]]),
                                np.concatenate([y[labelled], model.weak_.labels]),
                                sample_weight=np.concatenate([np.ones(len(labelled)), model.weak_.confidence]),
                                trusted=np.arange(len(labelled) + len(covered)) < len(labelled))
    assert np.allclose(model.predict_proba(x), by_hand.predict_proba(x))
    # weak labels help fit but never judge: held-out accuracy is the labels' alone
    alone = FewLabelClassifier().fit(x[labelled], y[labelled])
    assert model.held_out_ == alone.held_out_
    # the votes, combined first, make the same classifier as the weak labels they become
    weak = weak_labels_from_votes(votes, y[labelled], classes)
    given = FewLabelClassifier().fit(x[labelled], y[labelled], unlabelled=x[rest], weak_labels=weak)
    assert np.array_equal(given.predict_proba(x), model.predict_proba(x))


def test_growth_after_weak_labels_indexes_every_unlabelled_row() -> None:
    x, y = clusters(80, seed=4, classes="ab")
    labelled = few(y, 3)
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    weak = WeakLabels(np.arange(0, len(rest), 3), y[rest][::3], np.full(len(rest[::3]), 0.9))
    config = FewLabelConfig(semi="self-train", self_training=SelfTrainingConfig(threshold=0.7, max_rounds=1))
    model = FewLabelClassifier(config).fit(x[labelled], y[labelled], unlabelled=x[rest], weak_labels=weak)
    assert len(model.pseudo_index_) > 0 and not set(model.pseudo_index_) & set(weak.index)
    assert np.mean(model.pseudo_labels_ == y[rest][model.pseudo_index_]) >= 0.9


def test_bad_settings_are_one_clear_sentence() -> None:
    with pytest.raises(ConfigError, match="semi-supervision"):
        FewLabelConfig(semi="co-training")  # type: ignore[arg-type]
    x, y = clusters(20, seed=5, classes="ab")
    weak = WeakLabels(np.zeros(0, dtype=np.int64), y[:0], np.zeros(0))
    with pytest.raises(ConfigError, match="not both"):
        FewLabelClassifier().fit(x[:10], y[:10], unlabelled=x[10:], weak_labels=weak,
                                 weak_votes=np.full((20, 1), ABSTAIN))
    with pytest.raises(ConfigError, match="needs weak labels"):
        fit_method("weak", x[:10], y[:10], x[10:])


def test_the_evaluation_methods_are_settings_of_the_one_estimator() -> None:
    config = FewLabelsConfig(self_training=SelfTrainingConfig(threshold=0.7))
    assert [method_config(m, config, 3).semi for m in config.methods] == [
        "none", "self-train", "propagation", "none", "self-train"]
    assert method_config("weak", config, 0).semi == method_config("finetune+weak", config, 0).semi == "none"
    assert method_config("self-train", config, 3).self_training.seed == 3  # each draw's own seed
    assert not method_config("probe", config, 0).held_out  # the test set scores, not cross-validation


class HashEncoder:
    """A deterministic bag-of-words encoder (each word a seeded random direction): a collection without a model."""

    name, version, dim = "hash-words", "1", 16

    def encode(self, texts, *, batch_size=32, progress=None):  # noqa: ANN001, ANN201
        rows = []
        for text in texts:
            row = np.zeros(self.dim)
            for word in text.split():
                seed = int(hashlib.md5(word.encode()).hexdigest()[:8], 16)
                row += np.random.default_rng(seed).normal(size=self.dim)
            rows.append(row)
        vectors = np.asarray(rows) + 0.01
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("method", ["probe", "self-train", "propagation"])
def test_the_collection_and_the_evaluation_predict_the_same_from_the_same_labels(tmp_path: Path,
                                                                                method: str) -> None:
    rng = np.random.default_rng(6)
    words = {"pos": ["good", "great", "lovely"], "neg": ["bad", "dull", "awful"]}
    kinds = rng.choice(["pos", "neg"], 40)
    texts = [f"{' '.join(rng.choice(words[k], 2))} {' '.join(rng.choice(['film', 'plot', 'the'], 2))}"
             for k in kinds]
    self_training = SelfTrainingConfig(threshold=0.6)
    with Collection.create(tmp_path / "c", encoder=HashEncoder()) as collection:
        collection.add([{"id": f"i{i:02d}", "text": t} for i, t in enumerate(texts)])
        labelled = [i for i in range(40) if i % 5 == 0]
        collection.labels.put("s", [Label(f"i{i:02d}", str(kinds[i])) for i in labelled])
        semi = "none" if method == "probe" else method
        collection.classifier("s").fit(ClassifyConfig(semi=semi, self_training=self_training))  # type: ignore[arg-type]
        predicted = {label.item_id: label for label in collection.labels.get("s", ["predicted"])}
        ids, vectors = collection.store.item_vectors()
    rows = [ids.index(f"i{i:02d}") for i in labelled]
    rest = np.setdiff1d(np.arange(len(ids)), rows)
    model = fit_method(method, vectors[rows], kinds[labelled], vectors[rest],
                       FewLabelsConfig(self_training=self_training), seed=0)
    probabilities = model.predict_proba(vectors)
    assert [predicted[i].label for i in ids] == model.predict(vectors).tolist()
    assert np.allclose([predicted[i].confidence for i in ids], probabilities.max(axis=1), atol=1e-6)
