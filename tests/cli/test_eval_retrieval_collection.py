"""`selfsim eval retrieval --collection DIR` scores a collection as it stands, with its own encoder and backend."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_text import TINY_DOCUMENTS, TINY_TEXTS
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app
from selfsim.errors import ConfigError


def test_an_indexed_collection_is_scored_with_its_own_encoder_without_a_corpus(tiny_model_dir: Path,
                                                                                tmp_path: Path) -> None:
    texts = TINY_DOCUMENTS + TINY_TEXTS
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="torch") as collection:
        collection.add([{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    queries, qrels = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    queries.write_text('{"_id": "q1", "text": "cells divide"}\n{"_id": "q2", "text": "rain on the roof"}\n')
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td2\t1\n")
    result = CliRunner().invoke(app, ["eval", "retrieval", "--collection", str(tmp_path / "c"), "--queries",
                                      str(queries), "--qrels", str(qrels), "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    report = json.loads(result.stdout)
    assert report["encoder"] == str(tiny_model_dir) and report["backend"] == "torch"  # not the default MiniLM
    assert report["corpus"] is None and report["documents"] == len(texts) and report["index_seconds"] == 0.0
    assert report["scores"]["keyword"]["queries"] == 2 and report["scores"]["keyword"]["ndcg@10"] > 0.5

    missing = CliRunner().invoke(app, ["eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels)])
    assert isinstance(missing.exception, ConfigError) and "give --corpus" in str(missing.exception)
