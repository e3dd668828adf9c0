"""`selfsim outliers` through typer, on the sample collection of Python docstrings with two planted strangers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.app import parse_filter
from selfsim.cli.main import app
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, NotFoundError

PLANTED = [
    {"id": "recipe", "text": "Whisk two eggs with sugar, fold in the flour and bake the cake for 25 minutes."},
    {"id": "football", "text": "The striker scored twice in the second half and the team won the league title."},
]


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, encoder: Encoder) -> Path:
    path = tmp_path_factory.mktemp("outliers") / "collection"
    shutil.copytree(sample_dir, path)
    with Collection.open(path, encoder=encoder) as collection:
        collection.add(PLANTED)
    return path


@pytest.fixture
def planted(planted_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(planted_dir, tmp_path / "c")
    return tmp_path / "c"


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, ["outliers", *args], catch_exceptions=True)


def _report(result) -> dict:  # noqa: ANN001
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_the_planted_texts_come_first_with_reasons_in_json(planted: Path) -> None:
    report = _report(run(str(planted), "--json"))
    assert {o["id"] for o in report["outliers"][:2]} == {"recipe", "football"}
    assert report["items"] == 137 and report["k"] == 10 and report["radius_chosen"] and report["percentile"] == 10
    assert report["flagged"] == len(report["outliers"]) and report["written"] is None
    first = report["outliers"][0]
    assert set(first) == {"rank", "id", "score", "neighbours_within", "nearest_id", "nearest_similarity",
                          "reason", "signal", "text"}
    assert first["rank"] == 1 and first["signal"] == "neighbours" and first["text"].startswith(("Whisk", "The"))
    assert first["reason"].startswith(f"{first['neighbours_within']} of its 10 nearest items lie within cosine")


def test_the_table_shows_rank_reason_and_text(planted: Path) -> None:
    result = run(str(planted), "--top", "2")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "137 items checked" in flat and "recipe" in flat and "football" in flat and "Whisk two eggs" in flat
    assert all(column in flat for column in ("rank", "score", "reason", "text")) and "1 more outlier " in flat


def test_write_marks_the_outliers_and_a_later_run_clears_the_rest(planted: Path, encoder: Encoder) -> None:
    report = _report(run(str(planted), "--write", "--json"))
    assert report["written"] == len(report["outliers"]) and report["field"] == "outlier"
    with Collection.open(planted, encoder=encoder) as collection:
        marked = {item.id for item in collection.items(parse_filter(["outlier=true"]))}
        assert marked == {o["id"] for o in report["outliers"]}
        assert collection.get("recipe").metadata["outlier_reason"].endswith(".")
    again = _report(run(str(planted), "--write", "--json", "--top", "1"))
    with Collection.open(planted, encoder=encoder) as collection:
        marked = {item.id for item in collection.items(parse_filter(["outlier=true"]))}
    assert marked == {again["outliers"][0]["id"]}


def test_settings_and_filters(planted: Path) -> None:
    report = _report(run(str(planted), "--radius", "0.2", "--k", "5", "--min-neighbours", "2", "--json"))
    assert report["radius"] == 0.2 and not report["radius_chosen"] and report["k"] == 5
    assert all(o["neighbours_within"] < 2 for o in report["outliers"])
    only = _report(run(str(planted), "--filter", "area=compression and archives", "--json"))
    assert report["items"] == 137 and only["items"] == 30


def test_mistakes_end_in_one_sentence(planted: Path) -> None:
    result = run(str(planted), "--radius", "1.5")
    assert isinstance(result.exception, ConfigError) and "between -1 and 1" in str(result.exception)
    result = run(str(planted), "--min-neighbours", "20")
    assert isinstance(result.exception, ConfigError) and "between 1 and k" in str(result.exception)
    result = run(str(planted), "--filter", "nothing=here")
    assert isinstance(result.exception, NotFoundError) and "no items" in str(result.exception)
