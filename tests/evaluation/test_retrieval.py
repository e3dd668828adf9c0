"""Retrieval metrics on hand-made rankings, BEIR readers, and `selfsim eval retrieval` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from selfsim.cli.main import app
from selfsim.errors import InputError, NotFoundError
from selfsim.evaluation.retrieval import evaluate_retrieval, read_corpus, read_qrels, read_queries
from selfsim.training.ranking import mrr_at, ndcg_at, recall_at


def test_ndcg_of_a_single_relevant_document() -> None:
    assert ndcg_at(["b", "a"], {"b": 1}, 10) == 1.0
    assert ndcg_at(["a", "b", "c"], {"b": 1}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(["a", "b", "c"], {"c": 1}, 2) == 0.0  # beyond the cut-off
    assert ndcg_at(["a"], {}, 10) == 0.0
    assert ndcg_at([], {"a": 1}, 10) == 0.0


def test_ndcg_with_graded_relevance() -> None:
    relevant = {"a": 2, "b": 1, "z": 0}
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at(["a", "b"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at(["b", "a"], relevant, 10) == pytest.approx((1 + 2 / math.log2(3)) / ideal)
    assert ndcg_at(["x", "a", "y", "b"], relevant, 10) == pytest.approx(
        (2 / math.log2(3) + 1 / math.log2(5)) / ideal)
    # the ideal ranking is cut at k too
    assert ndcg_at(["b"], relevant, 1) == pytest.approx(1 / 2)


def test_recall() -> None:
    relevant = {"a": 1, "b": 1, "c": 0}
    assert recall_at(["a", "x", "b"], relevant, 100) == 1.0
    assert recall_at(["a", "x", "b"], relevant, 2) == 0.5
    assert recall_at(["c", "x"], relevant, 100) == 0.0  # zero gain is not relevant
    assert recall_at(["a"], {}, 10) == 0.0


def test_mrr() -> None:
    assert mrr_at(["a", "b"], {"a": 1}, 10) == 1.0
    assert mrr_at(["x", "y", "b", "a"], {"a": 1, "b": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x", "y", "b"], {"b": 1}, 2) == 0.0
    assert mrr_at(["x", "b"], {"x": 0, "b": 2}, 10) == 0.5


# -- BEIR layout ------------------------------------------------------------------------------------


def _beir(tmp_path: Path, stdlib_records: list[dict[str, Any]]) -> dict[str, Path]:
    """30 docstrings from different modules; 5 queries, each the opening words of one of them."""
    by_module: dict[str, dict[str, Any]] = {}
    for record in stdlib_records:
        if 15 <= len(record["text"].split()) <= 60 and record["module"] not in by_module:
            by_module[record["module"]] = record
        if len(by_module) == 30:
            break
    documents = list(by_module.values())
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d["id"], "title": d["module"], "text": d["text"]}) + "\n"
                              for d in documents), encoding="utf-8")
    targets = documents[::6][:5]
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"_id": f"q{i}", "text": " ".join(d["text"].split()[:12])}) + "\n"
                               for i, d in enumerate(targets)) +
                       json.dumps({"_id": "unjudged", "text": "a query without judgements"}) + "\n",
                       encoding="utf-8")
    qrels = tmp_path / "qrels" / "test.tsv"
    qrels.parent.mkdir()
    qrels.write_text("query-id\tcorpus-id\tscore\n" +
                     "".join(f"q{i}\t{d['id']}\t1\n" for i, d in enumerate(targets)), encoding="utf-8")
    return {"corpus": corpus, "queries": queries, "qrels": qrels}


def test_beir_readers(tmp_path: Path, stdlib_records: list[dict[str, Any]]) -> None:
    files = _beir(tmp_path, stdlib_records)
    corpus = list(read_corpus(files["corpus"]))
    assert len(corpus) == 30
    first = json.loads(files["corpus"].read_text().splitlines()[0])
    assert corpus[0].id == first["_id"]
    assert corpus[0].text == f"{first['title']} {first['text']}"
    assert corpus[0].metadata == {"title": first["title"]}
    queries = read_queries(files["queries"])
    assert len(queries) == 6 and queries["unjudged"] == "a query without judgements"
    qrels = read_qrels(files["qrels"])
    assert sorted(qrels) == [f"q{i}" for i in range(5)]
    assert all(len(judged) == 1 and list(judged.values()) == [1.0] for judged in qrels.values())


def test_beir_readers_report_bad_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_qrels(tmp_path / "missing.tsv")
    with pytest.raises(NotFoundError):
        list(read_corpus(tmp_path / "missing.jsonl"))
    short = tmp_path / "short.tsv"
    short.write_text("query-id\tcorpus-id\tscore\nq1\td1\n", encoding="utf-8")
    with pytest.raises(InputError, match="short.tsv line 2 does not have three tab-separated columns"):
        read_qrels(short)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "1", "text": "fine"}\n{"title": "no id"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="corpus.jsonl line 2 has no '_id' or 'text' field"):
        list(read_corpus(corpus))
    broken = tmp_path / "queries.jsonl"
    broken.write_text('{"_id": "q1", "text": "fine"}\n{"_id": \n', encoding="utf-8")
    with pytest.raises(InputError, match="queries.jsonl line 2 is not valid JSON"):
        read_queries(broken)


def test_evaluate_retrieval_needs_judged_queries(sample: Any) -> None:
    with pytest.raises(InputError, match="no query has relevance judgements"):
        evaluate_retrieval(sample.store, sample.encoder, {"q": "text"}, {"other": {"d": 1.0}})


def test_eval_retrieval_cli_json(tmp_path: Path, stdlib_records: list[dict[str, Any]]) -> None:
    files = _beir(tmp_path, stdlib_records)
    keep = tmp_path / "kept-collection"
    arguments = ["eval", "retrieval", "--corpus", str(files["corpus"]), "--queries", str(files["queries"]),
                 "--qrels", str(files["qrels"]), "--collection", str(keep), "--json"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    report = json.loads(result.stdout)
    assert {"corpus", "queries", "qrels", "documents", "chunks", "encoder", "search_config", "scores",
            "index_seconds", "total_seconds", "machine"} <= set(report)
    assert (report["documents"], report["encoder"]) == (30, "all-MiniLM-L6-v2")
    assert report["chunks"] >= 30
    assert set(report["scores"]) == {"dense", "keyword", "hybrid"}
    for mode, scores in report["scores"].items():
        assert set(scores) == {"ndcg@10", "recall@100", "mrr@10", "queries"}, mode
        assert scores["queries"] == 5  # the unjudged query is left out
        for metric in ("ndcg@10", "recall@100", "mrr@10"):
            assert 0.0 <= scores[metric] <= 1.0, (mode, metric)
    assert report["scores"]["dense"]["ndcg@10"] >= 0.9
    assert report["scores"]["dense"]["recall@100"] == 1.0
    assert report["scores"]["hybrid"]["ndcg@10"] >= 0.9
    assert report["search_config"]["fusion"] == "rrf"

    # a kept collection is reused: nothing is indexed the second time, and one mode can be asked for
    again = CliRunner().invoke(app, [*arguments, "--modes", "keyword"])
    assert again.exit_code == 0, (again.stdout, again.stderr, again.exception)
    second = json.loads(again.stdout)
    assert second["index_seconds"] == 0.0
    assert set(second["scores"]) == {"keyword"}
    assert second["scores"]["keyword"] == report["scores"]["keyword"]


def test_a_queries_file_without_ids_is_an_input_error(tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q1", "text": "fine"}\n{"id": "q2", "text": "wrong key"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="queries.jsonl line 2"):
        read_queries(queries)


def test_a_headerless_qrels_file_with_fractional_scores_keeps_its_first_line(tmp_path: Path) -> None:
    qrels = tmp_path / "graded.tsv"
    qrels.write_text("q1\td1\t0.5\nq2\td2\t1\n", encoding="utf-8")
    assert read_qrels(qrels) == {"q1": {"d1": 0.5}, "q2": {"d2": 1.0}}
