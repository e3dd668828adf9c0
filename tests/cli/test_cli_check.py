"""``selfsim check`` and the index agreement in ``selfsim info``, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app
from selfsim.encoders.base import Encoder
from selfsim.store.vectors import VectorIndex

ROWS = [{"id": f"r{i}", "text": f"note {i} about a {word}"} for i, word in
        enumerate(["kettle", "lantern", "bicycle", "compass", "teapot"])]


def _collection_with_a_ghost(path: Path, encoder: Encoder) -> None:
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(ROWS)
    saved = VectorIndex.load(path / "index")
    assert saved is not None
    saved.add(np.array([10**9], dtype=np.int64), np.ones((1, saved.dim), dtype=np.float32))
    saved.save(path / "index")  # as a save that missed a deletion would have left it


def test_check_reports_a_sound_collection(tmp_path: Path, encoder: Encoder) -> None:
    with Collection.create(tmp_path / "c", encoder=encoder) as collection:
        collection.add(ROWS)
    result = CliRunner().invoke(app, ["check", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "database: ok" in result.output and "index: agrees" in result.output
    info = json.loads(CliRunner().invoke(app, ["info", str(tmp_path / "c"), "--json"]).stdout)
    assert info["index_vectors"] == info["chunks"] == 5 and info["index_agrees"]


def test_check_fails_on_ghosts_and_repair_fixes_them(tmp_path: Path, encoder: Encoder) -> None:
    path = tmp_path / "c"
    _collection_with_a_ghost(path, encoder)
    result = CliRunner().invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["index"]["ghosts"] == 1 and report["index"]["vectors"] == 6
    repaired = CliRunner().invoke(app, ["check", str(path), "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert "index after repair: agrees" in repaired.output
    assert CliRunner().invoke(app, ["check", str(path)]).exit_code == 0
