"""`selfsim adapt COLLECTION --queries FILE`: the teacher's verdict is printed, and a rollback says so."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_text import TINY_DOCUMENTS, TINY_TEXTS
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app


def test_adapt_from_a_query_file_reports_the_validation_and_rolls_back_when_it_cannot_win(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="torch") as collection:
        collection.add([{"id": f"d{i}", "text": t} for i, t in enumerate(TINY_DOCUMENTS + TINY_TEXTS)])
        generation = collection.store.generation
    log = tmp_path / "log.tsv"
    log.write_text("id\tquery\n" + "".join(f"{i}\t{q}\n" for i, q in enumerate(
        ["cells divide", "the dog in the park", "rain on the roof", "old piano music", "birds over the sea",
         "a red car", "bread and cheese", "proteins fold"])))
    arguments = ["adapt", str(tmp_path / "c"), "--queries", str(log), "--mix", "0", "--max-steps", "1",
                 "--batch-size", "4"]
    result = CliRunner().invoke(app, [*arguments, "--json"])
    assert result.exit_code == 0, (result.stdout, result.exception)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["accepted"] is False and report["validation"]["validation"] == "cloze"
    assert report["validation"]["training_queries"] == 8  # the cloze validation leaves every query to train
    assert report["validation"]["query_source"] == "a query log of 8 distinct queries"
    assert report["generation"] == generation
    text = CliRunner().invoke(app, arguments)
    assert text.exit_code == 0 and "rolled back" in text.stdout and "label-free validation" in text.stdout
