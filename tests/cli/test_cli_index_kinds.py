"""``selfsim index --index auto`` and the search-time knobs ``--ef-search`` / ``--nprobe`` of ``selfsim search``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from selfsim.cli.main import app
from selfsim.encoders.base import Encoder

ROWS = [
    {"id": "m1", "text": "Send an email through an SMTP server", "team": "mail"},
    {"id": "m2", "text": "Read messages from an IMAP mailbox", "team": "mail"},
    {"id": "z1", "text": "Compress a folder into a zip archive", "team": "storage"},
    {"id": "t1", "text": "Parse a date written in ISO format", "team": "time"},
    {"id": "t2", "text": "Sleep until a given time of day", "team": "time"},
    {"id": "t3", "text": "Format a duration as hours and minutes", "team": "time"},
]  # one delete in six stays a tombstone (a rebuild comes past one in five)


def _json(result: Any) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def test_index_auto_and_search_knobs(tmp_path: Path, encoder: Encoder,
                                     write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    runner = CliRunner()
    path = str(tmp_path / "c")
    _json(runner.invoke(app, ["index", path, str(write_jsonl("rows.jsonl", ROWS)), "--index", "auto", "--json"]))
    info = _json(runner.invoke(app, ["info", path, "--json"]))
    assert (info["index"], info["index_in_use"], info["index_tombstones"]) == ("auto", "Flat", 0)

    assert runner.invoke(app, ["reindex", path, "--index", "HNSW32"]).exit_code == 0
    for options in (["--ef-search", "8"], ["--ef-search", "256", "--nprobe", "4"], []):
        hits = _json(runner.invoke(app, ["search", path, "zip a folder", "--mode", "dense", "--json", "-k", "2",
                                         "--filter", "team in mail,storage", *options]))
        assert hits[0]["id"] == "z1" and len(hits) == 2
    assert runner.invoke(app, ["delete", path, "z1"]).exit_code == 0
    info = _json(runner.invoke(app, ["info", path, "--json"]))
    assert (info["index_in_use"], info["index_tombstones"], info["index_agrees"]) == ("HNSW32", 1, True)
    hits = _json(runner.invoke(app, ["search", path, "zip a folder", "--mode", "dense", "--json", "-k", "10"]))
    assert "z1" not in [hit["id"] for hit in hits] and len(hits) == len(ROWS) - 1


def test_a_bad_knob_is_one_sentence(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["search", str(tmp_path), "anything", "--ef-search", "0"])
    assert result.exit_code != 0
    assert "ef_search must be a whole number of at least 1" in str(result.exception) + result.stderr
