"""Adapting from a query log (or pseudo-queries) with the hybrid search as teacher: improve or roll back."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS

from selfsim import Collection
from selfsim.app import TeacherConfig, adapt_collection_to, read_query_file
from selfsim.errors import ConfigError, InputError
from selfsim.registry import load_encoder
from selfsim.tasks.adapt import AdaptConfig
from selfsim.tasks.adapt_queries import TeacherHit, mine_examples
from selfsim.tasks.pseudo_queries import cloze_queries, corpus_pseudo_queries

RECORDS = [{"id": f"d{i}", "text": t} for i, t in enumerate(TINY_DOCUMENTS + TINY_TEXTS)]
QUERIES = ["cells divide", "the dog in the park", "rain on the roof", "old piano music", "birds over the sea",
           "a red car", "bread and cheese", "proteins fold", "genes in cells", "a long book", "hot sun today",
           "cat on the mat", "the cell cycle", "the owner throws the ball", "cold sea", "slow sad music"]


def _collection(tiny_model_dir: Path, path: Path) -> Collection:
    collection = Collection.create(path, encoder=str(tiny_model_dir), backend="torch")
    collection.add(RECORDS)
    return collection


def test_adapting_from_a_query_log_improves_the_teacher_scored_validation(tiny_model_dir: Path,
                                                                         tmp_path: Path) -> None:
    config = AdaptConfig(epochs=2, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0,
                         teacher=TeacherConfig(validation="teacher", holdout=0.25, negative_after=3, pool_depth=10,
                                               mixes=(1.0, 0.5)))
    with _collection(tiny_model_dir, tmp_path / "c") as collection:
        before = collection.store.generation
        report = adapt_collection_to(collection, config, QUERIES)
        verdict = report.validation
        assert verdict is not None and verdict.accepted and report.accepted
        assert verdict.chosen is not None
        assert verdict.chosen.validation["teacher_ndcg@10"] > verdict.base["teacher_ndcg@10"]
        assert verdict.validation_queries == 4 and verdict.training_queries == 12
        assert [c.mix for c in verdict.candidates] == [1.0, 0.5]
        assert collection.store.generation == before + 1  # switched in one new generation
        assert collection.store.encoder[1] == str(Path(verdict.chosen.model_dir).resolve())
        assert len(collection.search("cells divide", k=3)) == 3
        assert report.to_dict()["validation"]["accepted"] is True


def test_an_adaptation_that_cannot_improve_rolls_back_and_keeps_the_collection(tiny_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    # A share of 0 of the adapted weights is the base model itself: it cannot beat the base, so adapt keeps it.
    config = AdaptConfig(max_steps=1, batch_size=4, teacher=TeacherConfig(negative_after=3, pool_depth=10,
                                                                         mixes=(0.0,), pseudo_queries=12))
    with _collection(tiny_model_dir, tmp_path / "c") as collection:
        active, before = collection.store.encoder, collection.store.generation
        vectors_before = collection.vectors()[1]
        report = collection.adapt(config)  # no log: pseudo-queries made from the items
        assert not report.accepted and report.validation is not None and report.validation.chosen is None
        assert report.validation.candidates[0].validation["teacher_ndcg@10"] == report.validation.base[
            "teacher_ndcg@10"]
        assert "pseudo-queries" in report.validation.query_source
        assert report.chunks_embedded == 0 and report.generation == before == collection.store.generation
        assert collection.store.encoder == active
        assert (collection.vectors()[1] == vectors_before).all()
        assert not list((tmp_path / "c" / "models").glob("*-mix*"))  # the rejected average is not kept


def test_hard_negatives_are_what_the_dense_model_ranks_high_and_the_teacher_low() -> None:
    ranking = [TeacherHit(f"i{r}", f"text {r}", dense_rank=d, keyword_rank=r, keyword_score=1.0)
               for r, d in enumerate([3, 1, 2, None, 9, 30, 4, 12], start=1)]
    rows = mine_examples(["q"], [ranking], TeacherConfig(positives=1, negatives=2, negative_after=4,
                                                          negative_within=20))
    # positive: the teacher's first; negatives: below rank 4, best dense ranks first (4, then 9), never the top 4
    assert [row.texts for row in rows] == [("q", "text 1", "text 7"), ("q", "text 1", "text 5")]
    # a positive the keyword signal missed is where the dense side complements it: repeated when asked
    missed = [TeacherHit("i0", "text 0", dense_rank=2, keyword_rank=None, keyword_score=None)] + ranking
    rows = mine_examples(["q"], [missed], TeacherConfig(negatives=1, negative_after=4, keyword_miss_repeat=3))
    assert [row.texts for row in rows] == [("q", "text 0", "text 7")] * 3


def test_query_files_of_every_layout_are_read(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text('{"_id": "1", "text": "first query"}\n{"query": "second  query"}\n"third"\n')
    (tmp_path / "q.tsv").write_text("id\tquery\n1\tfirst query\n2\tsecond query\n")
    (tmp_path / "q.txt").write_text("first query\n\nsecond query\nfirst query\n")
    assert read_query_file(tmp_path / "q.jsonl") == ["first query", "second query", "third"]
    assert read_query_file(tmp_path / "q.tsv") == ["first query", "second query"]
    assert read_query_file(tmp_path / "q.txt") == ["first query", "second query"]
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(InputError, match="no 'query' or 'text' field"):
        read_query_file(tmp_path / "bad.jsonl")


def test_pseudo_queries_come_from_titles_and_sentences(tiny_model_dir: Path, tmp_path: Path) -> None:
    title = "Mitosis in dividing cells"
    items = [(f"{title}. Cells divide by mitosis in every tissue.", {"title": title})]
    items += [(r["text"], {}) for r in RECORDS[:4]]
    queries = corpus_pseudo_queries(items, 8, seed=1)
    texts = " ".join(text for text, _ in items)
    assert len(queries) == 8 and len(set(queries)) == 8 and all(q in texts for q in queries)
    assert corpus_pseudo_queries(items[:1], 1) == ["Mitosis in dividing cells"]  # a title is the first kind of query
    with Collection.create(tmp_path / "c", encoder=load_encoder(str(tiny_model_dir), "torch")) as collection:
        with pytest.raises(ConfigError, match="--objective teacher"):
            adapt_collection_to(collection, AdaptConfig(objective="crops"), ["a query"])


def test_cloze_validation_trains_on_every_query_and_judges_by_the_item_a_sentence_came_from(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    items = [(r["id"], r["text"]) for r in RECORDS]
    cloze = cloze_queries(items, 10)
    assert len(cloze) == len(TINY_DOCUMENTS)  # only the documents have three sentences
    for item_id, query, rest in cloze:
        source = next(text for i, text in items if i == item_id)
        assert query in source and query not in rest and len(rest) < len(source)
    config = AdaptConfig(max_steps=1, batch_size=4, teacher=TeacherConfig(validation="cloze", negative_after=3,
                                                                         pool_depth=8, mixes=(0.0,)))
    with _collection(tiny_model_dir, tmp_path / "c") as collection:
        report = adapt_collection_to(collection, config, QUERIES)
        verdict = report.validation
        assert verdict is not None and verdict.select_on == "dense" and verdict.validation == "cloze"
        assert verdict.training_queries == len(QUERIES) and verdict.validation_queries == len(TINY_DOCUMENTS)
        assert not report.accepted  # a share of 0 of the adapted weights cannot beat the base
