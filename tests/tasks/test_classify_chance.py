"""The classifier says when it knows nothing: cross-validated accuracy next to chance, and a warning at chance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.classify import app
from selfsim.store.labels import Label
from selfsim.tasks.classify.probe import CHANCE_MARGIN, held_out_accuracy

runner = CliRunner()


def random_labels(collection: Collection, task: str, items: int | None = None) -> None:
    """Two classes drawn independently of the texts, one label for each of the first ``items`` items (all)."""
    ids = [item.id for item in collection.store.iterate()][:items]
    drawn = np.random.default_rng(0).integers(0, 2, len(ids))
    collection.labels.put(task, [Label(item_id, "ab"[c], "human") for item_id, c in zip(ids, drawn, strict=True)])


def area_labels(collection: Collection, records: list[dict[str, Any]], task: str) -> None:
    """Each item's stdlib area: 22 classes that the texts do tell apart."""
    collection.labels.put(task, [Label(r["id"], r["area"], "human") for r in records])


def test_labels_independent_of_the_texts_warn_that_the_classifier_is_at_chance(sample_copy: Collection) -> None:
    random_labels(sample_copy, "noise")
    report = sample_copy.classifier("noise").fit()
    held = report.held_out
    assert held.folds == 5 and held.judged == report.labelled == sum(1 for _ in sample_copy.store.iterate())
    assert held.accuracy is not None and held.chance is not None and held.standard_error is not None
    assert held.accuracy - held.standard_error <= held.chance + CHANCE_MARGIN
    assert report.warning == held.warning and report.warning is not None
    assert "not clearly above chance" in report.warning and report.warning.endswith(".")
    document = report.to_dict()
    assert document["warning"] == report.warning and document["held_out"]["chance"] == held.chance
    json.dumps(document)


def test_labels_the_texts_explain_are_well_above_chance_and_do_not_warn(
        sample_copy: Collection, sample_records: list[dict[str, Any]]) -> None:
    area_labels(sample_copy, sample_records, "area")
    report = sample_copy.classifier("area").fit()
    held = report.held_out
    assert held.chance is not None and held.chance < 0.3  # the largest area is 30 of 135
    assert held.accuracy is not None and held.accuracy >= held.chance + 0.4
    assert report.warning is None and held.note == ""
    assert "held-out accuracy" in held.summary() and "chance" in held.summary()


def test_the_cli_warns_on_stderr_in_fit_and_suggest_and_reports_in_json(sample_copy_dir: Path) -> None:
    with Collection.open(sample_copy_dir) as collection:
        random_labels(collection, "noise", items=100)
    human = runner.invoke(app, ["fit", str(sample_copy_dir), "--task", "noise"])
    assert human.exit_code == 0, (human.stdout, human.stderr, human.exception)
    assert "held-out accuracy" in human.stdout and "chance" in human.stdout
    assert "warning: held-out accuracy" in human.stderr and "not clearly above chance" in human.stderr
    as_json = runner.invoke(app, ["fit", str(sample_copy_dir), "--task", "noise", "--json"])
    document = json.loads(as_json.stdout)
    assert document["warning"] and document["held_out"]["accuracy"] is not None and "warning:" in as_json.stderr
    suggested = runner.invoke(app, ["suggest", str(sample_copy_dir), "--task", "noise", "-n", "3"])
    assert suggested.exit_code == 0, (suggested.stdout, suggested.stderr, suggested.exception)
    assert "these margins mean nothing" in suggested.stderr and "not clearly above chance" in suggested.stderr
    assert suggested.stdout.count("  margin ") == 3


def test_suggest_is_quiet_when_the_classifier_has_learned(sample_copy_dir: Path,
                                                            sample_records: list[dict[str, Any]]) -> None:
    with Collection.open(sample_copy_dir) as collection:
        area_labels(collection, sample_records[::2], "area")  # half labelled, so there is something to suggest
    fitted = runner.invoke(app, ["fit", str(sample_copy_dir), "--task", "area"])
    assert fitted.exit_code == 0 and "warning" not in fitted.stderr, fitted.stderr
    suggested = runner.invoke(app, ["suggest", str(sample_copy_dir), "--task", "area", "-n", "3"])
    assert suggested.exit_code == 0 and suggested.stderr == "", suggested.stderr
    assert suggested.stdout.count("  margin ") == 3


def test_a_class_with_one_label_skips_the_measurement_with_a_note() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(9, 8))
    held = held_out_accuracy(vectors, ["a"] * 4 + ["b"] * 4 + ["c"])
    assert held.accuracy is None and held.warning is None and not held.at_chance
    assert "class 'c' has 1 human label" in held.note and held.summary() == held.note
    assert held.chance == pytest.approx(4 / 9)


def test_weak_labels_help_fit_but_are_never_judged() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(16)[:2] * 4
    classes = rng.integers(0, 2, 60)
    vectors = centres[classes] + rng.normal(size=(60, 16))
    trusted = np.arange(60) < 20
    held = held_out_accuracy(vectors, np.asarray(["x", "y"])[classes], trusted=trusted)
    assert held.judged == 20 and held.folds == min(5, int(np.bincount(classes[:20]).min()))
    assert held.accuracy is not None and held.accuracy >= 0.9 and not held.at_chance


def test_a_plain_fit_drops_an_earlier_finetuned_encoder(sample_copy: Collection,
                                                         sample_records: list[dict[str, Any]]) -> None:
    # A head fitted on the stored vectors must not be fed by a fine-tuned encoder left from an earlier --finetune.
    stale = sample_copy.store.directory / "classifiers" / "area" / "encoder"
    stale.mkdir(parents=True)
    (stale / "modules.json").write_text("[]")
    area_labels(sample_copy, sample_records, "area")
    sample_copy.classifier("area").fit()
    assert not stale.exists()
    assert sample_copy.classifier("area").predict([sample_records[0]["text"]])[0]["label"] == sample_records[0]["area"]
