"""Reading labelled files and label files, sampling k per class, and the evaluation loop on synthetic vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfsim.data.label_files import read_label_file
from selfsim.errors import ConfigError, InputError
from selfsim.evaluation.classify import (
    Candidate,
    FewLabelsConfig,
    MethodResult,
    choose_by_dev,
    evaluate_few_labels,
    read_labelled,
    sample_per_class,
    split_dev,
)


class WordEncoder:
    """A deterministic bag-of-words encoder over a fixed vocabulary: enough to test the loop offline."""

    name, version, dim = "words", "1", 4
    vocabulary = ("good", "bad", "film", "plot")

    def encode(self, texts, *, batch_size=32, progress=None):  # noqa: ANN001, ANN201
        vectors = np.array([[t.split().count(w) for w in self.vocabulary] for t in texts], dtype=np.float32) + 0.01
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_read_labelled_tsv_with_header_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("label\ttext\n1\tgood film\n0\tbad \"plot\n")
    assert read_labelled(tmp_path / "a.tsv") == (["good film", 'bad "plot'], ["1", "0"])
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "x", "label": "k"}) + "\n")
    assert read_labelled(tmp_path / "b.jsonl") == (["x"], ["k"])
    (tmp_path / "c.tsv").write_text("label\ttext\n1\n")
    with pytest.raises(InputError, match="line 2"):
        read_labelled(tmp_path / "c.tsv")


def test_label_files_name_items_by_id_or_text(tmp_path: Path) -> None:
    (tmp_path / "l.tsv").write_text("id\tlabel\tconfidence\n7\tpos\t0.5\n")
    (row,) = read_label_file(tmp_path / "l.tsv")
    assert (row.item_id, row.label, row.confidence) == ("7", "pos", 0.5)
    (tmp_path / "l.jsonl").write_text(json.dumps({"text": "some text", "label": "neg"}) + "\n")
    (row,) = read_label_file(tmp_path / "l.jsonl")
    assert (row.item_id, row.text, row.label) == (None, "some text", "neg")
    (tmp_path / "bad.tsv").write_text("item\tclass\n1\ta\n")
    with pytest.raises(InputError, match="header"):
        read_label_file(tmp_path / "bad.tsv")


def test_sample_per_class_is_seeded_and_balanced() -> None:
    labels = np.array(["a"] * 50 + ["b"] * 20 + ["c"] * 3)
    first, again, other = sample_per_class(labels, 5, 0), sample_per_class(labels, 5, 0), sample_per_class(labels, 5, 1)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert sorted(np.unique(labels[first], return_counts=True)[1].tolist()) == [3, 5, 5]


def test_evaluation_runs_every_frozen_method_on_the_same_draws() -> None:
    rng = np.random.default_rng(0)
    words = ["good film", "good plot", "bad film", "bad plot"]
    train = [words[i] for i in rng.integers(0, 4, 200)]
    labels = ["pos" if t.startswith("good") else "neg" for t in train]
    config = FewLabelsConfig(per_class=(2, 4), seeds=2, methods=("probe", "self-train", "propagation"), pool_size=150)
    results = evaluate_few_labels(train, labels, words, ["pos", "pos", "neg", "neg"], WordEncoder(), config)
    assert [(r.method, r.per_class) for r in results] == [(m, k) for k in (2, 4) for m in config.methods]
    assert all(len(r.accuracy) == 2 and r.summary()["accuracy_mean"] == 100.0 for r in results)


def test_unknown_methods_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown method"):
        FewLabelsConfig(methods=("probe", "magic"))


def test_weak_method_learns_from_labelling_functions_on_the_unlabelled_pool() -> None:
    from selfsim.tasks.classify.weak import KeywordFunction

    rng = np.random.default_rng(1)
    words = ["good film", "good plot", "bad film", "bad plot"]
    train = [words[i] for i in rng.integers(0, 4, 120)]
    labels = ["pos" if t.startswith("good") else "neg" for t in train]
    functions = [KeywordFunction("praise", "pos", ["good"]), KeywordFunction("scorn", "neg", ["bad"])]
    config = FewLabelsConfig(per_class=(1,), seeds=2, methods=("probe", "weak"), pool_size=None)
    results = evaluate_few_labels(train, labels, words, ["pos", "pos", "neg", "neg"], WordEncoder(), config,
                                  functions=functions)
    weak = next(r for r in results if r.method == "weak")
    assert weak.accuracy == [1.0, 1.0]
    assert "118 weak labels" in weak.notes[0]  # every unlabelled text is covered by one function


def test_weak_methods_without_functions_are_refused() -> None:
    config = FewLabelsConfig(per_class=(1,), seeds=1, methods=("weak",))
    with pytest.raises(ConfigError, match="labelling functions"):
        evaluate_few_labels(["good", "bad"], ["pos", "neg"], ["good"], ["pos"], WordEncoder(), config)


def test_fine_tune_methods_share_one_fine_tune_per_draw(encoder) -> None:  # noqa: ANN001 - the real encoder
    from selfsim.tasks.classify.weak import KeywordFunction
    from selfsim.training.setfit import ContrastiveFinetuneConfig

    train = ["a wonderful film", "superb and moving", "I loved it", "a good cast", "good fun",
             "a dull mess", "boring and stupid", "I hated it", "a bad plot", "bad acting"]
    labels = ["pos"] * 5 + ["neg"] * 5
    functions = [KeywordFunction("praise", "pos", ["good"]), KeywordFunction("scorn", "neg", ["bad"])]
    candidates = (Candidate("finetune"), Candidate("finetune+weak"), Candidate("finetune+weak", combine="majority"))
    config = FewLabelsConfig(per_class=(2,), seeds=1, candidates=candidates, pool_size=None,
                             finetune=ContrastiveFinetuneConfig(min_steps=2, max_steps=2))
    results = evaluate_few_labels(train, labels, ["a good film", "a bad film"], ["pos", "neg"], encoder, config,
                                  functions=functions, final_texts=["bad fun", "good fun", "a mess"])
    assert [r.method for r in results] == ["finetune", "finetune+weak", "finetune+weak majority"]
    assert all(len(r.accuracy) == 1 and len(r.final_predictions[0]) == 3 for r in results)
    assert "fine-tuned on the 4 drawn labels, 2 steps" in results[1].notes[0]


def test_split_dev_is_seeded_and_disjoint() -> None:
    dev, rest = split_dev(100, 20, seed=0)
    again, _ = split_dev(100, 20, seed=0)
    other, _ = split_dev(100, 20, seed=1)
    assert np.array_equal(dev, again) and not np.array_equal(dev, other)
    assert len(dev) == 20 and np.array_equal(np.sort(np.concatenate([dev, rest])), np.arange(100))
    with pytest.raises(ConfigError, match="dev split"):
        split_dev(10, 10)


def test_candidates_name_their_settings_and_refuse_settings_their_method_lacks() -> None:
    assert Candidate("self-train", threshold=0.8).name == "self-train t=0.8"
    assert Candidate("finetune+weak", combine="majority").name == "finetune+weak majority"
    assert Candidate("probe").settings() == {}
    with pytest.raises(ConfigError, match="threshold"):
        Candidate("probe", threshold=0.8)
    with pytest.raises(ConfigError, match="combiner"):
        Candidate("self-train", combine="majority")
    with pytest.raises(ConfigError, match="once"):
        FewLabelsConfig(candidates=(Candidate("probe"), Candidate("probe")))


def test_choose_by_dev_takes_the_best_mean_and_the_first_on_a_tie() -> None:
    rows = [MethodResult("probe", 8, accuracy=[0.6, 0.8]), MethodResult("a", 8, accuracy=[0.7, 0.7]),
            MethodResult("b", 8, accuracy=[0.5, 0.7])]
    assert choose_by_dev(rows).method == "probe"  # 0.7 both: the one listed first
    rows.append(MethodResult("c", 8, accuracy=[0.9, 0.6]))
    assert choose_by_dev(rows).method == "c"


def test_final_texts_keep_predictions_that_only_the_caller_scores() -> None:
    rng = np.random.default_rng(2)
    words = ["good film", "good plot", "bad film", "bad plot"]
    train = [words[i] for i in rng.integers(0, 4, 100)]
    labels = ["pos" if t.startswith("good") else "neg" for t in train]
    candidates = (Candidate("probe"), Candidate("self-train", threshold=0.6), Candidate("self-train", threshold=0.9))
    config = FewLabelsConfig(per_class=(2,), seeds=2, candidates=candidates, pool_size=None)
    final = ["bad film", "good plot", "good film"]
    results = evaluate_few_labels(train, labels, words, ["pos", "pos", "neg", "neg"], WordEncoder(), config,
                                  final_texts=final)
    assert [r.method for r in results] == ["probe", "self-train t=0.6", "self-train t=0.9"]
    assert results[1].summary()["settings"] == {"threshold": 0.6}
    assert all(len(r.final_predictions) == 2 and len(r.final_predictions[0]) == 3 for r in results)
    gold = ["neg", "pos", "pos"]
    chosen = choose_by_dev(results)
    scored = chosen.scored_on(gold)
    assert scored.method == chosen.method and scored.accuracy == [
        float(np.mean(p == np.asarray(gold))) for p in chosen.final_predictions]
    with pytest.raises(ConfigError, match="final_texts"):
        MethodResult("probe", 2, accuracy=[1.0]).scored_on(["pos"])
