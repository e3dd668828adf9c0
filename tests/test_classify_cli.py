"""``selfsim labels`` and ``selfsim classify`` end to end, on a real collection (SQLite file, real encoder)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.classify import app, eval_classify, labels_app
from selfsim.errors import NotFoundError, SelfsimError
from selfsim.store.labels import Label
from selfsim.tasks.classify.probe import TrainingDataError

POSITIVE = ["a wonderful, moving film", "brilliant acting and a superb script", "I loved every minute of it",
            "a delightful comedy that made me laugh", "beautifully shot and deeply touching",
            "one of the best movies of the year", "a charming and funny story", "great fun for the whole family",
            "an excellent, heartfelt drama", "smart, witty and warm"]
NEGATIVE = ["a dull, tedious mess", "the worst film I have seen", "boring from start to finish",
            "terrible acting and a stupid plot", "a waste of two hours", "painfully slow and badly written",
            "an awful, lifeless sequel", "I hated every minute of it", "clumsy, loud and pointless",
            "a bland and forgettable movie"]
RECORDS = ([{"id": f"p{i}", "text": t} for i, t in enumerate(POSITIVE)]
           + [{"id": f"n{i}", "text": t} for i, t in enumerate(NEGATIVE)])

runner = CliRunner()


@pytest.fixture
def reviews(make_collection: Callable[..., Collection]) -> Path:
    collection = make_collection(RECORDS, name="reviews")
    path = collection.store.directory
    collection.close()
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def human_labels(tmp_path: Path, per_class: int = 3) -> Path:
    rows = [f"p{i}\tpos" for i in range(per_class)] + [f"n{i}\tneg" for i in range(per_class)]
    return write(tmp_path / "labels.tsv", "id\tlabel\n" + "\n".join(rows) + "\n")


def invoke(sub_app: typer.Typer, *args: str) -> object:
    result = runner.invoke(sub_app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_labels_import_by_id_and_text_several_sets_and_export(reviews: Path, tmp_path: Path) -> None:
    invoke(labels_app, "import", reviews, human_labels(tmp_path), "--task", "sentiment")
    by_text = write(tmp_path / "topic.jsonl", json.dumps({"text": POSITIVE[0], "label": "film"}) + "\n"
                    + json.dumps({"id": "n1", "label": "film", "confidence": 0.7}) + "\n")
    invoke(labels_app, "import", reviews, by_text, "--task", "topic")
    listed = json.loads(invoke(labels_app, "list", reviews, "--json").stdout)  # type: ignore[attr-defined]
    assert {t["task"]: t["counts"] for t in listed} == {"sentiment": {"human": {"neg": 3, "pos": 3}},
                                                         "topic": {"human": {"film": 2}}}
    out = tmp_path / "out.jsonl"
    invoke(labels_app, "export", reviews, out, "--task", "topic")
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["id"], e["label"], e["source"], e["confidence"]) for e in exported] == [
        ("p0", "film", "human", 1.0), ("n1", "film", "human", 0.7)]


def test_a_labels_file_naming_unknown_ids_is_one_clear_sentence(reviews: Path, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.tsv", "id\tlabel\np1\tpos\nghost-1\tneg\nghost-2\tneg\n")
    with pytest.raises(NotFoundError) as caught:
        invoke(labels_app, "import", reviews, bad, "--task", "sentiment")
    message = str(caught.value)
    assert "2 labelled ids are not in the collection" in message and "'ghost-1'" in message
    assert message.endswith(".") and message.count(". ") == 0
    with Collection.open(reviews) as collection:  # nothing was written
        assert collection.store.labels.tasks() == []


def test_an_unknown_label_set_is_one_clear_sentence(reviews: Path, tmp_path: Path) -> None:
    invoke(labels_app, "import", reviews, human_labels(tmp_path), "--task", "sentiment")
    with pytest.raises(NotFoundError) as caught:
        invoke(app, "fit", reviews, "--task", "sentimnet")
    message = str(caught.value)
    assert "no label set called 'sentimnet'" in message and "sentiment" in message and message.count(". ") == 0


def test_a_single_class_label_set_cannot_train(reviews: Path, tmp_path: Path) -> None:
    invoke(labels_app, "import", reviews, write(tmp_path / "one.tsv", "id\tlabel\np1\tpos\np2\tpos\n"), "-t", "s")
    with pytest.raises(TrainingDataError, match="at least two classes"):
        invoke(app, "fit", reviews, "--task", "s")


def test_fit_with_self_training_writes_predictions_and_rounds_then_predicts(reviews: Path, tmp_path: Path) -> None:
    invoke(labels_app, "import", reviews, human_labels(tmp_path), "--task", "sentiment")
    report = json.loads(invoke(app, "fit", reviews, "--task", "sentiment", "--self-train", "--threshold", "0.6",
                               "--json").stdout)  # type: ignore[attr-defined]
    assert report["labelled"] == 6 and report["unlabelled"] == 14 and report["predicted"] == 20
    assert report["rounds"][0]["round"] == 0 and (reviews / "classifiers" / "sentiment" / "rounds").is_dir()
    with Collection.open(reviews) as collection:
        store = collection.store.labels
        predicted = {lab.item_id: lab for lab in store.get("sentiment", ["predicted"])}
        assert len(predicted) == 20 and set(predicted["p9"].probabilities or {}) == {"neg", "pos"}
        correct = sum(lab.label == ("pos" if item_id.startswith("p") else "neg") for item_id, lab in predicted.items())
        assert correct >= 17
        assert len(store.get("sentiment", ["pseudo"])) == report["pseudo_labels"]
    answers = json.loads(invoke(app, "predict", reviews, "an utterly boring film", "a joyful masterpiece",
                                "--task", "sentiment", "--json").stdout)  # type: ignore[attr-defined]
    assert [a["label"] for a in answers] == ["neg", "pos"]
    assert all(0.5 <= a["confidence"] <= 1.0 for a in answers)


def test_weak_labels_from_yaml_functions_then_fit(reviews: Path, tmp_path: Path) -> None:
    functions = write(tmp_path / "lf.yaml", "functions:\n"
                      "  - {name: praise, label: pos, keywords: [wonderful, loved, best, great, excellent]}\n"
                      "  - {name: scorn, label: neg, keywords: [dull, worst, boring, terrible, awful, hated]}\n"
                      "  - {name: waste, label: neg, regex: 'waste of|pointless'}\n")
    invoke(labels_app, "import", reviews, human_labels(tmp_path, 1), "--task", "sentiment")
    report = json.loads(invoke(app, "weak", reviews, "--functions", functions, "--task", "sentiment", "--fit",
                               "--json").stdout)  # type: ignore[attr-defined]
    assert [f["name"] for f in report["functions"]] == ["praise", "scorn", "waste"]
    assert report["written"] == report["covered"] >= 12 and report["classes"] == ["neg", "pos"]
    assert report["fit"]["labelled"] == report["written"] + 2 - report["gold_covered"]
    with Collection.open(reviews) as collection:
        weak = collection.store.labels.get("sentiment", ["weak"])
        assert all(lab.label == ("pos" if lab.item_id.startswith("p") else "neg") for lab in weak)


def test_suggest_names_unlabelled_items(reviews: Path, tmp_path: Path) -> None:
    invoke(labels_app, "import", reviews, human_labels(tmp_path), "--task", "sentiment")
    picked = json.loads(invoke(app, "suggest", reviews, "--task", "sentiment", "-n", "3",
                               "--json").stdout)  # type: ignore[attr-defined]
    assert len(picked) == 3 and not {p["id"] for p in picked} & {"p0", "p1", "p2", "n0", "n1", "n2"}
    assert picked[0]["margin"] <= picked[-1]["margin"]


def test_eval_classify_reports_mean_and_std_per_method(tmp_path: Path) -> None:
    body = "label\ttext\n" + "".join(f"pos\t{t}\n" for t in POSITIVE[:7]) + "".join(f"neg\t{t}\n" for t in NEGATIVE[:7])
    test = "label\ttext\n" + "".join(f"pos\t{t}\n" for t in POSITIVE[7:]) + "".join(f"neg\t{t}\n" for t in NEGATIVE[7:])
    evaluator = typer.Typer()
    evaluator.command()(eval_classify)
    functions = write(tmp_path / "lf.yaml", "functions:\n  - {name: praise, label: pos, keywords: [wonderful, best]}\n"
                      "  - {name: scorn, label: neg, keywords: [dull, worst, boring]}\n")
    result = invoke(evaluator, "--train", write(tmp_path / "train.tsv", body), "--test",
                    write(tmp_path / "test.tsv", test), "--per-class", "3", "--seeds", "2",
                    "--methods", "probe,self-train,weak", "--functions", functions, "--json")
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    rows = {(r["per_class"], r["method"]): r for r in summary["results"]}
    assert set(rows) == {(3, "probe"), (3, "self-train"), (3, "weak")}
    assert all("weak labels" in note for note in rows[(3, "weak")]["notes"])
    assert all(r["seeds"] == 2 and 0 <= r["accuracy_mean"] <= 100 and r["accuracy_std"] >= 0 for r in rows.values())
    assert rows[(3, "probe")]["accuracy_mean"] >= 80


def test_labels_store_prefers_human_over_predicted_and_checks_sources(reviews: Path) -> None:
    with Collection.open(reviews) as collection:
        store = collection.store.labels
        store.put("s", [Label("p1", "pos"), Label("p2", "pos")])
        store.put("s", [Label("p1", "neg", "predicted", 0.6), Label("p3", "pos", "predicted", 0.9)])
        assert [(lab.item_id, lab.label, lab.source) for lab in store.get("s")] == [
            ("p1", "pos", "human"), ("p2", "pos", "human"), ("p3", "pos", "predicted")]
        with pytest.raises(SelfsimError, match="unknown label source"):
            store.put("s", [Label("p1", "pos", "oracle")])
        assert store.delete("s", "predicted") == 2
        generation = collection.store.generation
        store.put("s", [Label("p4", "pos")])
        assert collection.store.generation == generation  # labels never bump the store generation


@pytest.mark.slow
def test_fit_with_a_contrastive_fine_tune_saves_the_encoder_and_predicts_with_it(reviews: Path, tmp_path: Path) -> None:
    invoke(labels_app, "import", reviews, human_labels(tmp_path), "--task", "sentiment")
    functions = write(tmp_path / "lf.yaml", "functions:\n"
                      "  - {name: praise, label: pos, keywords: [wonderful, loved, best, great, excellent]}\n"
                      "  - {name: scorn, label: neg, keywords: [dull, worst, boring, terrible, awful, hated]}\n")
    weak = json.loads(invoke(app, "weak", reviews, "--functions", functions, "--task", "sentiment",
                             "--json").stdout)  # type: ignore[attr-defined]
    report = json.loads(invoke(app, "fit", reviews, "--task", "sentiment", "--finetune",
                               "--json").stdout)  # type: ignore[attr-defined]
    assert report["finetune_steps"] > 0
    # the encoder learns from the six human labels only; the head from those and the weak ones
    assert weak["written"] > weak["gold_covered"]
    assert report["finetune_labels"] == 6 and report["labelled"] == 6 + weak["written"] - weak["gold_covered"]
    assert (reviews / "classifiers" / "sentiment" / "encoder" / "modules.json").is_file()
    answers = json.loads(invoke(app, "predict", reviews, "a dreadful, boring film", "--task", "sentiment",
                                "--json").stdout)  # type: ignore[attr-defined]
    assert answers[0]["label"] == "neg"
    picked = json.loads(invoke(app, "suggest", reviews, "--task", "sentiment", "-n", "2",
                               "--json").stdout)  # type: ignore[attr-defined]
    assert len(picked) == 2
