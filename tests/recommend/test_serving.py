"""Interactions in a real collection, training, serving and the CLI, with one clear sentence per user error."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app, main
from selfsim.data.interactions import InteractionLog
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.tasks.recommend.collection import RecommendConfig
from selfsim.training.sequence import SequenceTrainingConfig

TINY = RecommendConfig(max_length=10, dim=16, heads=2, blocks=1, dropout=0.1,
                       training=SequenceTrainingConfig(epochs=6, batch_size=32, eval_every=3, threads=None))
ITEM_TEXTS = [{"id": "c0i0", "text": "a red summer dress"}, {"id": "c0i1", "text": "a straw sun hat"},
              {"id": "c1i0", "text": "a steel kitchen knife"},
              {"id": "new1", "text": "a wide straw beach hat"}]  # a text item nobody has touched yet


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder,
         planted_log: Callable[..., InteractionLog]) -> Path:
    """A collection with three text items, a planted interaction log (events CSV) and a trained recommender."""
    root = tmp_path_factory.mktemp("shop")
    log = planted_log(users=120)
    rows = ["user,item,timestamp,event"]
    for user in log.users:
        for step, item in enumerate(log.history(user)):
            rows.append(f"{user},{log.items[item - 1]},{1000 + step},view")
    events = root / "events.csv"
    events.write_text("\n".join(rows) + "\n")
    with Collection.create(root / "shop", encoder=encoder) as collection:
        collection.add(ITEM_TEXTS)
        report = collection.import_interactions([events])
        assert report.stored == report.events == log.n_interactions
        again = collection.import_interactions([events])
        assert again.stored == 0  # the same events are stored once
        stats = collection.interactions.stats()
        assert (stats.users, stats.items, stats.items_with_text) == (120, log.n_items, 3)
        recommender = collection.train_recommender(TINY)
        assert recommender.notes["content_aware"] is True and recommender.notes["text_only_items"] == 1
    return root / "shop"


def test_recommendations_exclude_seen_items(shop: Path) -> None:
    with Collection.open(shop) as collection:
        history = collection.interactions.history("u0")
        found = collection.recommend(user="u0", k=5)
        assert len(found) == 5 and not {r.item for r in found} & set(history)
        with_seen = collection.recommend(user="u0", k=24, exclude_seen=False)
        assert set(history) <= {r.item for r in with_seen}
        session = collection.recommend(history=["c2i3", "c2i4"], k=3)
        assert session[0].item == "c2i5"  # the planted cycle continues
        similar = collection.similar_items("c1i0", k=3)
        assert len(similar) == 3 and "c1i0" not in {r.item for r in similar}
        everything = collection.recommend(history=["c0i1"], k=100)
        assert "new1" in {r.item for r in everything}  # cold start: recommendable by its text alone
        segments = collection.user_segments(k=3)
        assert len(segments) == 120 and set(segments.values()) == {0, 1, 2}


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda c: c.recommend(user="nobody"), NotFoundError, "no user 'nobody'"),
    (lambda c: c.recommend(history=[]), ConfigError, "the history is empty"),
    (lambda c: c.recommend(history=["c0i1", "zz9", "zz8"]), NotFoundError, "does not know the item ids 'zz9', 'zz8'"),
    (lambda c: c.recommend(), ConfigError, "give either a user"),
    (lambda c: c.similar_items("zz9"), NotFoundError, "does not know the item ids 'zz9'"),
])
def test_user_errors_are_one_sentence(shop: Path, call: Callable, error: type, words: str) -> None:
    with Collection.open(shop) as collection, pytest.raises(error) as caught:
        call(collection)
    message = str(caught.value)
    assert words in message and message.endswith(".") and "\n" not in message


def test_cli_recommend_similar_and_segments(shop: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["recommend", str(shop), "--history", "c2i3,c2i4", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["item"] == "c2i5"
    table = runner.invoke(app, ["recommend", str(shop), "--user", "u1"])
    assert table.exit_code == 0 and "next items for user u1" in " ".join(table.stdout.split())
    similar = runner.invoke(app, ["similar-items", str(shop), "c0i0", "--json"])
    assert similar.exit_code == 0 and len(json.loads(similar.stdout)) == 10
    segments = runner.invoke(app, ["interactions", "segments", str(shop), "-k", "2"])
    assert segments.exit_code == 0 and "120 users in 2 segments" in " ".join(segments.stdout.split())


def test_cli_import_and_eval(shop: Path, tmp_path: Path, planted_log: Callable[..., InteractionLog]) -> None:
    log = planted_log(users=60, seed=3)
    sequences = tmp_path / "log.txt"
    sequences.write_text("".join(f"{u} {' '.join(log.items[i - 1] for i in log.history(u))}\n" for u in log.users))
    runner = CliRunner()
    imported = runner.invoke(app, ["interactions", "import", str(shop), str(sequences), "--json"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["events_new"] == log.n_interactions
    scored = runner.invoke(app, ["eval", "recommend", str(sequences), "--model", str(shop / "recommender"), "--json"])
    assert scored.exit_code == 0, scored.output
    methods = json.loads(scored.stdout)["methods"]
    assert set(methods) == {"most_popular", "cooccurrence_knn", "model"}
    assert methods["model"]["test"]["hr@10"] > methods["most_popular"]["test"]["hr@10"]
    trained = runner.invoke(app, ["eval", "recommend", str(sequences), "--epochs", "2", "--no-baselines",
                                  "--threads", "1", "--json"])
    assert trained.exit_code == 0, trained.output
    run = json.loads(trained.stdout)["methods"]["sequence_model"]
    assert run["epochs_run"] == 2 and set(run["test"]) >= {"hr@10", "ndcg@10"}


@pytest.mark.parametrize(("arguments", "content", "sentence"), [
    (["interactions", "import", "{collection}", "{file}"], "user,item,timestamp\nu1,i1,5\nu1,i2,soon\n",
     "events.csv line 3 has a timestamp 'soon'"),
    (["recommend", "{collection}", "--user", "ghost"], None, "no user 'ghost'"),
    (["recommend", "{collection}", "--history", ","], None, "the history is empty"),
    (["recommend", "{collection}", "--history", "c0i0,nope"], None, "does not know the item ids 'nope'"),
])
def test_main_turns_errors_into_one_sentence(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], arguments: list[str],
                                             content: str | None, sentence: str) -> None:
    events = tmp_path / "events.csv"
    if content is not None:
        events.write_text(content)
    values = {"collection": str(shop), "file": str(events)}
    monkeypatch.setattr(sys, "argv", ["selfsim", *(a.format(**values) for a in arguments)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "error:" in line]
    assert "Traceback" not in captured.err and len(lines) == 1
    assert sentence in lines[0] and lines[0].endswith(".")


def test_import_stops_at_a_bad_line_after_storing_the_good_ones(shop: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"user": "new", "item": "c0i0", "timestamp": 1}\n{"user": "new", "item": "c0i1"}\n')
    with Collection.open(shop) as collection:
        with pytest.raises(InputError, match=r"events.jsonl line 2 has no 'timestamp' field.*\(1 events before"):
            collection.import_interactions([events])
        assert collection.interactions.history("new") == ["c0i0"]


def test_recommending_before_training_says_how_to_train(tmp_path: Path, encoder: Encoder) -> None:
    log = tmp_path / "seq.txt"
    log.write_text("u1 a b c\nu2 b c d\n")
    with Collection.create(tmp_path / "fresh", encoder=encoder) as collection:
        collection.import_interactions([log])
        with pytest.raises(NotFoundError, match="no trained recommender; train one with `selfsim interactions train"):
            collection.recommend(user="u1")
