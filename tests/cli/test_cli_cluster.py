"""`selfsim cluster` and `selfsim eval clustering` through typer, on the sample collection and a small JSONL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.cluster import cluster, eval_clustering
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError

app = typer.Typer()
app.command("cluster")(cluster)
app.command("eval-clustering")(eval_clustering)

TOPICS = {
    "cooking": ["Simmer the tomato sauce with garlic and basil", "Knead the bread dough and let it rise",
                "Roast the chicken with lemon and rosemary", "Whisk eggs and sugar for the sponge cake",
                "Fry the onions until golden before adding rice"],
    "space": ["The rocket launched a satellite into orbit", "Astronauts repaired the space station's solar panel",
              "The telescope observed a distant galaxy", "A probe landed on the surface of Mars",
              "The moon's gravity pulls the ocean tides"],
    "football": ["The striker scored a late goal to win the match", "The referee showed the defender a red card",
                 "The team won the league after a penalty shootout", "The goalkeeper saved a penalty kick",
                 "Fans cheered as the club lifted the cup"],
}


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def test_cluster_writes_back_and_search_filter_finds_the_cluster(sample_copy_dir: Path, encoder: Encoder,
                                                                 tmp_path: Path) -> None:
    result = run("cluster", str(sample_copy_dir), "--k", "6", "--json", "--write", "--reduce", "pca",
                 "--html", str(tmp_path / "map.html"), "--png", str(tmp_path / "map.png"), "--map-method", "pca")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clusters"] == 6 and sum(t["size"] for t in report["topics"]) == report["items"]
    assert all(t["keywords"] and t["representatives"] for t in report["topics"])
    assert (tmp_path / "map.html").stat().st_size > 1000
    biggest = report["topics"][0]
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        members = list(collection.items({"cluster": biggest["cluster"]}))
        hits = collection.search(biggest["keywords"][0], k=5, mode="dense", filter={"cluster": biggest["cluster"]})
    assert len(members) == biggest["size"]
    assert members[0].metadata["cluster_keywords"] == biggest["keywords"][:5]
    assert hits and all(collection_hit.id in {m.id for m in members} for collection_hit in hits)


def test_cluster_table_with_automatic_k_and_hdbscan_noise(sample_copy_dir: Path) -> None:
    result = run("cluster", str(sample_copy_dir), "--k-range", "4:8:2")
    assert result.exit_code == 0, result.output
    assert "k chosen" in result.stdout
    result = run("cluster", str(sample_copy_dir), "--method", "hdbscan", "--reduce", "pca", "--dims", "10",
                 "--min-cluster-size", "5", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["noise"] + sum(t["size"] for t in report["topics"]) == report["items"]


def test_cluster_bad_arguments_are_one_sentence(sample_copy_dir: Path) -> None:
    result = run("cluster", str(sample_copy_dir), "--k", "100000")
    assert isinstance(result.exception, ConfigError) and "larger than" in str(result.exception)
    result = run("cluster", str(sample_copy_dir), "--method", "spectral")
    assert isinstance(result.exception, ConfigError) and "unknown clusterer" in str(result.exception)
    result = run("cluster", str(sample_copy_dir), "--k-range", "five")
    assert isinstance(result.exception, ConfigError)


@pytest.fixture
def labelled_file(tmp_path: Path) -> Path:
    rows: list[dict[str, Any]] = [{"id": f"{label}{n}", "label": label, "text": text}
                                  for label, texts in TOPICS.items() for n, text in enumerate(texts)]
    path = tmp_path / "labelled.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_eval_clustering_side_by_side(labelled_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "vectors.npy"
    result = run("eval-clustering", str(labelled_file), "--reduce", "none", "--json", "--cache", str(cache))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    methods = [r["method"] for r in report["results"]]
    assert methods[0].startswith("embedding") and "lda" in methods and any(m.startswith("lsa") for m in methods)
    embedding = report["results"][0]
    assert embedding["v_measure"] > 0.8 and embedding["clusters"] == 3 and embedding["coherence"] is not None
    assert cache.is_file()
    again = run("eval-clustering", str(labelled_file), "--reduce", "none", "--cache", str(cache),
                "--baselines", "none")
    assert again.exit_code == 0 and "embedding" in again.stdout


def test_eval_clustering_reads_fields_and_refuses_bad_files(tmp_path: Path,
                                                            write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    path = write_jsonl("bad.jsonl", [{"body": "x"}])
    result = run("eval-clustering", str(path))
    assert result.exception is not None and "has no 'text'" in str(result.exception)
