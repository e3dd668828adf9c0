"""``selfsim explain ...``: every command and format through the real CLI, hostile text shown verbatim,
and user mistakes ending in one sentence."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app, main
from selfsim.encoders.base import Encoder
from selfsim.store.labels import Label
from selfsim.tasks.recommend.collection import RecommendConfig
from selfsim.tasks.topics.model import TopicConfig
from selfsim.training.sequence import SequenceTrainingConfig

FRUIT = ["I ate a ripe apple", "Bananas are yellow fruit", "A bowl of sweet cherries", "Mango juice is tasty"]
CARS = ["The car engine roared", "Change the brake pads", "A truck on the highway", "The gearbox needs oil"]
ROWS = ([{"id": f"f{n}", "text": t} for n, t in enumerate(FRUIT)]
        + [{"id": f"c{n}", "text": t} for n, t in enumerate(CARS)]
        + [{"id": "pw", "text": "Reset a forgotten password from the login page. The link expires after one hour."},
           {"id": "pw2", "text": "Reset your forgotten password on the login page. The link expires in an hour."},
           {"id": "evil", "text": "Reset the <script>alert(1)</script> password. [red]x stays as typed."}])
WIDE = {"COLUMNS": "400"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A collection with a classifier, written topics and a tiny trained recommender."""
    root = tmp_path_factory.mktemp("explain-cli")
    log = root / "log.txt"
    log.write_text("".join(f"u{u} f{u % 4} f{(u + 1) % 4} c{u % 4} c{(u + 1) % 4}\n" for u in range(12)),
                   encoding="utf-8")
    tiny = RecommendConfig(max_length=5, dim=8, heads=1, blocks=1,
                           training=SequenceTrainingConfig(epochs=1, batch_size=16, eval_every=1, threads=None))
    with Collection.create(root / "shop", encoder=encoder) as collection:
        collection.add(ROWS)
        collection.labels.put("kind", [Label(r["id"], r["id"][0], "human") for r in ROWS if r["id"][0] in "fc"])
        collection.classifier("kind").fit()
        collection.topics(TopicConfig(reduce="none", k=2), write=True)
        collection.import_interactions([log])
        collection.train_recommender(tiny)
    return root / "shop"


def _run(*arguments: str) -> Any:
    result = CliRunner().invoke(app, ["explain", *arguments], env=WIDE)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    monkeypatch.setattr(sys, "argv", ["selfsim", "explain", *arguments])
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 1 and "Traceback" not in captured.err, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("."), captured.err
    return lines[0]


def test_search_table_ends_with_the_efficiency_check(shop: Path) -> None:
    out = _run("search", str(shop), "forgotten password", "pw").stdout
    assert "Shapley value" in out and "occlusion" in out and "password" in out
    assert "values add up to" in out and "= score" in out and "− empty" in out and "(gap" in out
    assert "exact: every one of the 16 coalitions of 4 features was scored" in out
    assert "leave-one-out occlusion" in out


def test_search_json_parses_and_adds_up(shop: Path) -> None:
    data = json.loads(_run("search", str(shop), "forgotten password", "pw", "--format", "json").stdout)
    assert data["kind"] == "search" and data["exact"] and abs(data["efficiency_gap"]) < 1e-6
    assert {f["side"] for f in data["features"]} == {"query", "item"}


def test_text_and_html_show_hostile_markup_verbatim_or_escaped(shop: Path) -> None:
    text = _run("search", str(shop), "reset password", "evil", "--format", "text").stdout
    assert "[red]x stays as typed." in text and "<script>alert(1)</script>" in text and "query:" in text
    fragment = _run("search", str(shop), "reset password", "evil", "--format", "html").stdout
    assert fragment.count('<div class="selfsim-explain"') == 2 and "<mark style=" in fragment
    assert "<script>" not in fragment and "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment


def test_duplicates_sampled_show_standard_errors(shop: Path) -> None:
    out = _run("duplicates", str(shop), "pw", "pw2", "--exact-up-to", "0", "--permutations", "4", "--seed", "1",
               "--max-features", "2").stdout
    assert "sampled: 4 permutations, standard errors shown" in out and "±" in out and "(gap" in out


def test_classify_and_recommend_commands(shop: Path) -> None:
    predicted = json.loads(_run("classify", str(shop), "f0", "--task", "kind", "--format", "json").stdout)
    assert predicted["kind"] == "classify" and predicted["target"] == "probability of 'f'"
    assert abs(predicted["efficiency_gap"]) < 1e-6
    table = _run("recommend", str(shop), "c1", "--user", "u0").stdout
    assert "history" in table and "values add up to" in table and "f0" in table
    anonymous = json.loads(_run("recommend", str(shop), "c1", "--history", "f0,f1", "--format", "json").stdout)
    assert [f["text"] for f in anonymous["features"]] == ["f0", "f1"]


def test_topic_in_every_format(shop: Path) -> None:
    data = json.loads(_run("topic", str(shop), "0", "--format", "json", "--items", "2").stdout)
    assert data["topic"] == 0 and data["field"] == "cluster" and len(data["items"]) == 2 and data["words"]
    table = _run("topic", str(shop), "0").stdout
    assert "c-TF-IDF weight" in table and "items nearest the topic's centre" in table
    text = _run("topic", str(shop), "1", "--format", "text", "--keywords", "3").stdout
    assert text.startswith("topic 1 of 'cluster'") and "words: " in text


@pytest.mark.parametrize(("arguments", "words"), [
    (("search", "{shop}", "password", "nope"), "no item with id 'nope'"),
    (("duplicates", "{shop}", "pw", "gone"), "no item with id 'gone'"),
    (("search", "{shop}", "password", "pw", "--format", "yaml"), "unknown format 'yaml'"),
    (("topic", "{shop}", "0", "--format", "html"), "use table, json or text"),
    (("topic", "{shop}", "9"), "no topic '9'"),
    (("recommend", "{shop}", "c1"), "give either a user"),
    (("classify", "{shop}", "f0", "--task", "nothing"), "no classifier"),
])
def test_mistakes_end_in_one_sentence(shop: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...],
                                      words: str) -> None:
    line = _error(monkeypatch, capsys, *(a.format(shop=shop) for a in arguments))
    assert words in line
