"""Explanations of a collection's answers, on real encoder scores: search hits, duplicates, predictions,
recommendations and topics, through the facade."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from selfsim import ChunkingConfig, Collection
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, InputError, NotFoundError, SelfsimError
from selfsim.store.labels import Label
from selfsim.tasks.duplicates.pairs import FEATURES, PairScorer
from selfsim.tasks.explain.classify import ClassifyExplainConfig
from selfsim.tasks.explain.match import MatchConfig
from selfsim.tasks.explain.shapley import ShapleyConfig
from selfsim.tasks.recommend.collection import RecommendConfig
from selfsim.tasks.topics.model import TopicConfig
from selfsim.training.sequence import SequenceTrainingConfig

LONG = " ".join(f"Guide step {n}." for n in range(1, 13))  # 12 short sentences, one chunk
ROWS = [
    {"id": "pw", "text": "Reset a forgotten password from the login page. The link expires after one hour."},
    {"id": "pw2", "text": "Reset your forgotten password on the login page. The link expires after an hour."},
    {"id": "bread", "text": "Bake bread with flour and yeast. Let the dough rise overnight."},
    {"id": "guide", "text": LONG},
]
SAMPLED = ShapleyConfig(permutations=4, min_permutations=2, budget_seconds=None)


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory, torch_encoder: Encoder) -> Iterator[Collection]:
    """A small collection of short items, open for reading. On torch, because explanations are checked to
    add up to search scores computed in other calls (int8 vectors move at cosine ~0.99 with their batch)."""
    collection = Collection.create(tmp_path_factory.mktemp("explain") / "notes", encoder=torch_encoder)
    collection.add(ROWS)
    yield collection
    collection.close()


def _dense_score(collection: Collection, query: str, item_id: str) -> tuple[float, str]:
    hit = next(h for h in collection.search(query, k=10, mode="dense") if h.id == item_id)
    return hit.score, hit.text


def test_search_explanation_adds_up_to_the_dense_search_score(notes: Collection) -> None:
    explanation = notes.explain_search("forgotten password", "pw")
    score, passage = _dense_score(notes, "forgotten password", "pw")
    assert explanation.kind == "search" and explanation.exact and explanation.coalitions == 2**4
    assert all(f.standard_error is None for f in explanation.features)
    assert abs(explanation.efficiency_gap) < 1e-6
    assert explanation.full == pytest.approx(score, abs=1e-4)  # the item is one chunk: the same number
    assert explanation.texts["item"] == passage and "passage search answers with" in explanation.target
    value = {f.text: f.value for f in explanation.features if f.side == "query"}
    assert value["password"] > 0 and value["forgotten"] > 0  # query words the item holds push the score up
    assert [f.side for f in explanation.features] == ["query"] * 2 + ["item"] * 2


def test_ten_features_are_exact_and_more_are_sampled_with_standard_errors(notes: Collection) -> None:
    ten = notes.explain_search("how do I reset my password",
                               "guide", MatchConfig(max_item_features=4, shapley=SAMPLED))
    assert len(ten.features) == 10 and ten.exact and ten.coalitions == 1024 and abs(ten.efficiency_gap) < 1e-6
    assert any("merged into 4 passages" in note for note in ten.notes)
    sampled = notes.explain_search("guide step", "guide", MatchConfig(shapley=SAMPLED))
    assert len(sampled.features) == 14 and not sampled.exact and sampled.permutations == 4
    errors = [f.standard_error for f in sampled.features]
    assert all(e is not None and np.isfinite(e) for e in errors)
    assert abs(sampled.efficiency_gap) < 1e-6  # each permutation's contributions telescope to full - empty


def test_a_long_item_explains_the_chunk_that_matched(make_collection: Callable[..., Collection],
                                                     torch_encoder: Encoder) -> None:
    """On torch: the explanation's full score is compared with the chunk vector stored at indexing, which int8
    computed in another batch (its vectors move at cosine ~0.99 with the batch)."""
    text = ("Gardening needs soil and water. Tomatoes like sun. " * 3
            + "The invoice total is due at the end of the month. Pay it by bank transfer.")
    collection = make_collection([{"id": "long", "text": text}], chunking=ChunkingConfig(max_words=20,
                                                                                         overlap_words=0),
                                 model=torch_encoder)
    explanation = collection.explain_search("when is the invoice due", "long")
    score, passage = _dense_score(collection, "when is the invoice due", "long")
    assert explanation.texts["item"] == passage and "invoice" in passage and "chunk" in explanation.target
    assert any("chunks" in note for note in explanation.notes)
    assert explanation.full == pytest.approx(score, abs=1e-3) and abs(explanation.efficiency_gap) < 1e-6


def test_near_duplicates_are_explained_by_their_matching_sentences(notes: Collection, tmp_path: Path) -> None:
    explanation = notes.explain_duplicates("pw", "pw2")
    assert explanation.kind == "duplicates" and explanation.full > 0.9 and abs(explanation.efficiency_gap) < 1e-6
    assert {f.side for f in explanation.features} == {"first", "second"} and len(explanation.features) == 4
    assert all(f.value > 0 for f in explanation.features)
    # a saved fused pair scorer adds its probability and feature contributions to the notes
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (40, len(FEATURES)))
    path = tmp_path / "scorer.json"
    PairScorer().fit(features, (features[:, 0] > 0.5).astype(int)).save(path)
    scored = notes.explain_duplicates("pw", "pw2", scorer=path)
    assert any("duplicate probability" in note and "cosine" in note for note in scored.notes)


def test_user_mistakes_are_one_sentence(notes: Collection) -> None:
    cases: list[tuple[Callable[[], object], type[SelfsimError], str]] = [
        (lambda: notes.explain_search("password", "nope"), NotFoundError, "no item with id 'nope'"),
        (lambda: notes.explain_search("  ", "pw"), InputError, "the query is empty"),
        (lambda: notes.explain_duplicates("pw", "pw"), InputError, "two different items"),
        (lambda: notes.explain_duplicates("pw", "gone"), NotFoundError, "no item with id 'gone'"),
        (lambda: notes.explain_topic(0), NotFoundError, "cluster"),
        (lambda: notes.explain_recommend("pw", user="u1"), NotFoundError, "no trained recommender"),
        (lambda: notes.explain_classify("pw", "topic"), NotFoundError, "no classifier"),
    ]
    for call, kind, words in cases:
        with pytest.raises(kind) as caught:
            call()
        message = str(caught.value)
        assert words in message and message.endswith(".") and "\n" not in message, message


def test_topic_explanation_after_writing_topics(make_collection: Callable[..., Collection]) -> None:
    rows = [{"id": f"{n}", "text": text} for n, text in enumerate(
        ["Bake bread with flour and yeast", "Knead the dough for pizza and bread", "Simmer tomato soup with basil",
         "The rocket reached orbit", "Astronauts docked with the station", "A telescope saw a far galaxy"])]
    collection = make_collection(rows)
    collection.topics(TopicConfig(reduce="none", k=2), write=True)
    cluster = collection.get("0").metadata["cluster"]
    members = {item.id: item.text.lower() for item in collection.items({"cluster": cluster})}
    explained = collection.explain_topic(str(cluster), keywords=5, items=2)  # a topic given as text finds 0 or 1
    assert explained.topic == cluster and explained.size == len(members) and explained.topics == 2
    assert 1 <= len(explained.words) <= 5 and all(any(w in t for t in members.values()) for w, _ in explained.words)
    assert [w for _, w in explained.words] == sorted((w for _, w in explained.words), reverse=True)
    assert len(explained.items) == 2 and {i.id for i in explained.items} <= set(members)
    assert explained.items[0].similarity >= explained.items[1].similarity
    assert explained.to_dict()["words"][0]["word"] == explained.words[0][0]
    with pytest.raises(NotFoundError, match="no topic '7'"):
        collection.explain_topic("7")
    with pytest.raises(ConfigError, match="at least 1"):
        collection.explain_topic(cluster, keywords=0)


def test_classify_explanation_through_the_saved_classifier(make_collection: Callable[..., Collection]) -> None:
    fruit = ["I ate a ripe apple", "Bananas are yellow fruit", "A bowl of sweet cherries", "Mango juice is tasty",
             "Fresh pears from the orchard"]
    cars = ["The car engine roared", "Change the brake pads", "A truck on the highway", "New tyres for the van",
            "The gearbox needs oil"]
    rows = [{"id": f"f{n}", "text": t} for n, t in enumerate(fruit)] + [{"id": f"c{n}", "text": t}
                                                                        for n, t in enumerate(cars)]
    collection = make_collection(rows)
    collection.labels.put("kind", [Label(r["id"], "fruit" if r["id"][0] == "f" else "car", "human") for r in rows])
    collection.classifier("kind").fit()
    explanation = collection.explain_classify("f0", "kind", config=ClassifyExplainConfig(shapley=SAMPLED))
    assert explanation.kind == "classify" and "fruit" in explanation.target
    assert explanation.exact and abs(explanation.efficiency_gap) < 1e-6
    predicted = collection.classifier("kind").predict(["I ate a ripe apple"])[0]
    assert explanation.full == pytest.approx(predicted["confidence"],
                                             abs=1e-5)
    against = collection.explain_classify("f0", "kind", label="car")
    assert "car" in against.target and against.full < 0.5


def test_recommend_explanation_for_a_user_and_a_history(tmp_path: Path, encoder: Encoder) -> None:
    log = tmp_path / "log.txt"
    log.write_text("".join(f"u{u} a{u % 3} b{u % 3} c{u % 3} d{u % 3}\n" for u in range(12)), encoding="utf-8")
    tiny = RecommendConfig(max_length=5, dim=8, heads=1, blocks=1,
                           training=SequenceTrainingConfig(epochs=1, batch_size=16, eval_every=1, threads=None))
    with Collection.create(tmp_path / "shop", encoder=encoder) as collection:
        collection.import_interactions([log])
        collection.train_recommender(tiny)
        for_user = collection.explain_recommend("d1", user="u1")
        assert [f.text for f in for_user.features] == ["a1", "b1", "c1", "d1"]
        assert for_user.exact and abs(for_user.efficiency_gap) < 1e-6
        assert all(f.side == "history" and f.start == -1 for f in for_user.features)
        anonymous = collection.explain_recommend("d0", history=["a0", "b0"])
        assert [f.text for f in anonymous.features] == ["a0", "b0"] and abs(anonymous.efficiency_gap) < 1e-6
        with pytest.raises(ConfigError, match="give either a user"):
            collection.explain_recommend("d0", user="u1", history=["a0"])
        with pytest.raises(NotFoundError, match="no user 'nobody'"):
            collection.explain_recommend("d0", user="nobody")
