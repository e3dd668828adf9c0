"""`selfsim duplicates` and `selfsim eval pairs` through typer, on real collections and pair files."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.duplicates import duplicates, eval_pairs
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, SelfsimError

app = typer.Typer()
app.command("duplicates")(duplicates)
app.command("eval-pairs")(eval_pairs)

ROWS = [
    {"id": "a1", "text": "How can I change the password of my account?"},
    {"id": "a2", "text": "How do I change my account password?"},
    {"id": "b1", "text": "Shipping to Canada takes five business days."},
    {"id": "b2", "text": "shipping to canada takes five business days"},
    {"id": "c1", "text": "The museum is closed on Mondays and public holidays."},
    {"id": "c2", "text": "Bake the bread for forty minutes at two hundred degrees."},
]

PAIRS = [
    (1, "How can I change the password of my account?", "How do I change my account password?"),
    (1, "The meeting was moved to Thursday.", "The meeting has been rescheduled for Thursday."),
    (1, "He bought a new car last week.", "Last week he purchased a new car."),
    (0, "The meeting was moved to Thursday.", "The weather was sunny on Thursday."),
    (0, "He bought a new car last week.", "She sold her old bicycle yesterday."),
    (0, "How can I change the password of my account?", "Where is the nearest train station?"),
]


@pytest.fixture(scope="module")
def rows_dir(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    path = tmp_path_factory.mktemp("dupes") / "collection"
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(ROWS)
    return path


@pytest.fixture
def rows(rows_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(rows_dir, tmp_path / "c")
    return tmp_path / "c"


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.tsv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["label", "sentence1", "sentence2"])
        writer.writerows(PAIRS)
    return path


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def test_json_output_lists_groups_and_write_back_is_filterable(rows: Path, encoder: Encoder) -> None:
    result = run("duplicates", str(rows), "--threshold", "0.85", "--format", "json", "--write")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {frozenset(g["members"]) for g in report["group_list"]} == {frozenset({"a1", "a2"}),
                                                                        frozenset({"b1", "b2"})}
    assert report["written"] == 4 and report["pairs"]["exact"] == 1
    with Collection.open(rows, encoder=encoder) as collection:
        visible = {i.id for i in collection.items({"duplicate_group_keep": {"$ne": False}})}
    assert visible == {"c1", "c2"} | {g["keep"] for g in report["group_list"]}


def test_csv_and_table_outputs(rows: Path, tmp_path: Path) -> None:
    result = run("duplicates", str(rows), "--threshold", "0.85", "--format", "csv", "--grouping", "centre")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["id"] for r in table} == {"a1", "a2", "b1", "b2"} and sum(r["keep"] == "True" for r in table) == 2
    shown = run("duplicates", str(rows), "--threshold", "0.85", "--output", str(tmp_path / "out.json"))
    assert shown.exit_code == 0 and "2 duplicate groups" in shown.stdout
    assert json.loads((tmp_path / "out.json").read_text())["groups"] == 2


def test_calibrate_picks_the_threshold_from_labelled_pairs(rows: Path, pairs_file: Path) -> None:
    result = run("duplicates", str(rows), "--calibrate", str(pairs_file), "--format", "json")
    assert result.exit_code == 0, result.output
    calibration = json.loads(result.stdout)["calibration"]
    assert calibration["f1"] == 1.0 and calibration["pairs"] == 6
    assert json.loads(result.stdout)["threshold"] == calibration["threshold"]


def test_bad_arguments_end_in_one_sentence(rows: Path, tmp_path: Path) -> None:
    result = run("duplicates", str(rows), "--threshold", "1.5")
    assert isinstance(result.exception, ConfigError) and "between -1 and 1" in str(result.exception)
    result = run("duplicates", str(rows), "--format", "xml")
    assert isinstance(result.exception, ConfigError)
    result = run("duplicates", str(rows), "--filter", "nothing=here")
    assert isinstance(result.exception, SelfsimError) and "no items" in str(result.exception)


def test_eval_pairs_reports_cosine_and_fused(pairs_file: Path, tmp_path: Path) -> None:
    result = run("eval-pairs", str(pairs_file), "--json", "--save", str(tmp_path / "scorer.json"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pairs"] == 6 and report["positives"] == 3
    assert report["cosine"]["average_precision"] == 1.0 and report["cosine"]["f1"] == 1.0
    assert set(report["fused_folds"]) == {"average_precision", "best_f1", "f1_at_train_threshold"}
    assert (tmp_path / "scorer.json").is_file()
    table = run("eval-pairs", str(pairs_file), "--folds", "0")
    assert table.exit_code == 0 and "100.00" in table.stdout
