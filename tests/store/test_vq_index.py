"""The ``VQ`` index kind: a collection whose vector index is learned-quantiser codes, re-ranked from SQLite.

Planted data: 1,200 items in 32 dimensions around 24 centres, each item's vector fixed by its text (a lookup
encoder), so a VQ collection can be scored against a Flat one over the very same vectors. The quantiser is
tiny (8 codebooks of 32 codes) so training takes a fraction of a second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

import selfsim.store.vq_index as vq_index
from selfsim import Collection
from selfsim.errors import ConfigError
from selfsim.indexes import planned_spec, vq_spec
from selfsim.store.quantised import QuantisedIndex
from selfsim.store.vectors import MANIFEST, VectorIndex
from selfsim.store.vq_index import VQIndex

DIM, CENTRES, ITEMS, QUERIES = 32, 24, 1200, 40
SPEC = "VQ8x5,R50"  # 8 bytes a vector, 32 codes a codebook (trains from 128 vectors), re-ranks 50


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


rng = np.random.default_rng(0)
_centres = rng.normal(size=(CENTRES, DIM))
_cluster = rng.integers(0, CENTRES, ITEMS + QUERIES)
_points = _unit(_centres[_cluster] + rng.normal(0, 0.4, (ITEMS + QUERIES, DIM)))
RECORDS = [{"id": f"item-{n}", "text": f"item {n} topic{_cluster[n]} word{n % 7}", "group": n % 3,
            "rare": n < 40} for n in range(ITEMS)]
QUERY_TEXTS = [f"query {q} topic{_cluster[ITEMS + q]}" for q in range(QUERIES)]
VECTOR_OF = {text: _points[n] for n, text in enumerate([r["text"] for r in RECORDS] + QUERY_TEXTS)}


class PlantedEncoder:
    """Each known text's planted vector (a 32-d unit vector): deterministic and instant."""

    name = "planted-test"
    version = "1"
    dim = DIM

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        vectors = np.stack([VECTOR_OF[text] for text in texts]) if texts else np.zeros((0, DIM), np.float32)
        if progress is not None:
            progress(len(texts))
        return vectors


ENCODER = PlantedEncoder()


def _make(path: Path, spec: str, records: list[dict] = RECORDS) -> Collection:
    collection = Collection.create(path, encoder=ENCODER, index=spec)
    collection.add(records)
    return collection


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(flat, vq)``: closed collections of the planted items, one with each index kind."""
    root = tmp_path_factory.mktemp("vq")
    for name, spec in (("flat", "Flat"), ("vq", SPEC)):
        _make(root / name, spec).close()
    return root / "flat", root / "vq"


def _ids(hits: list) -> list[str]:
    return [hit.id for hit in hits]


def test_dense_search_finds_what_exact_search_finds(built: tuple[Path, Path]) -> None:
    flat_path, vq_path = built
    with Collection.open(flat_path, ENCODER) as flat, Collection.open(vq_path, ENCODER) as vq:
        index = vq.store.index
        assert isinstance(index, VQIndex) and index.built_spec == SPEC and index.size == ITEMS
        found = []
        for text in QUERY_TEXTS:
            exact, approximate = flat.search(text, k=10, mode="dense"), vq.search(text, k=10, mode="dense")
            found.append(len(set(_ids(exact)) & set(_ids(approximate))) / 10)
            # re-ranked scores are the exact cosines, so a hit both return scores the same
            shared = {hit.id: hit.score for hit in exact}
            for hit in approximate:
                if hit.id in shared:
                    assert hit.score == pytest.approx(shared[hit.id], abs=1e-5)
        assert np.mean(found) >= 0.9
        # and the codes alone are worse: the re-ranking is doing work
        queries = ENCODER.encode(QUERY_TEXTS)
        raw = index.codes.search(queries, 10)[1]
        exact_ids = np.argsort(-(queries @ _points[:ITEMS].T), axis=1)[:, :10] + 1  # chunk ids start at 1
        raw_recall = np.mean([len(set(r) & set(e)) / 10 for r, e in zip(raw.tolist(), exact_ids.tolist(),
                                                                        strict=True)])
        assert raw_recall < np.mean(found)


def test_info_reports_memory_and_codebook_usage(built: tuple[Path, Path]) -> None:
    with Collection.open(built[1], ENCODER) as vq:
        info = vq.info()
        assert (info["index"], info["index_in_use"], info["index_search_defaults"]) == (SPEC, SPEC, {"rerank": 50})
        assert info["index_agrees"] and info["index_vectors"] == ITEMS
        details = vq.store.index.details
        assert details["bytes_per_vector"] == 8 + 8 and details["code_bytes_per_vector"] == 8
        assert details["index_bytes"] == 16 * ITEMS and details["codes_per_codebook"] == 32
        assert 8 < details["codebook_perplexity"] <= 32 and details["trained_on"] == ITEMS


def test_hybrid_search_and_filters(built: tuple[Path, Path]) -> None:
    flat_path, vq_path = built
    with Collection.open(flat_path, ENCODER) as flat, Collection.open(vq_path, ENCODER) as vq:
        hits = vq.search(QUERY_TEXTS[0], k=10, mode="hybrid")
        assert len(hits) == 10 and _ids(hits)[:3] == _ids(flat.search(QUERY_TEXTS[0], k=10, mode="hybrid"))[:3]
        for text in QUERY_TEXTS[:10]:
            filtered = vq.search(text, k=10, mode="dense", filter={"group": 1})
            assert len(filtered) == 10 and all(hit.metadata["group"] == 1 for hit in filtered)
            exact = flat.search(text, k=10, mode="dense", filter={"group": 1})
            assert len(set(_ids(filtered)) & set(_ids(exact))) >= 8
        # an allowed set inside the re-ranking depth is searched exactly
        few = vq.search(QUERY_TEXTS[1], k=5, mode="dense", filter={"rare": True})
        assert _ids(few) == _ids(flat.search(QUERY_TEXTS[1], k=5, mode="dense", filter={"rare": True}))


def test_deletes_never_come_back(built: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "vq"
    shutil.copytree(built[1], path)
    with Collection.open(path, ENCODER) as vq:
        top = _ids(vq.search(QUERY_TEXTS[2], k=10, mode="dense"))
        vq.delete(top[:5])
        after = _ids(vq.search(QUERY_TEXTS[2], k=10, mode="dense"))
        assert len(after) == 10 and not set(after) & set(top[:5])
        assert vq.store.index.size == ITEMS - 5 and vq.info()["index_agrees"]
    with Collection.open(path, ENCODER) as reopened:
        assert not set(_ids(reopened.search(QUERY_TEXTS[2], k=10, mode="dense"))) & set(top[:5])
        assert reopened.store.index.size == ITEMS - 5


def test_reopening_loads_the_codes_without_training(built: tuple[Path, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    path = tmp_path / "vq"
    shutil.copytree(built[1], path)
    with Collection.open(path, ENCODER) as first:
        codes = first.store.index.codes.codes.copy()
        expected = _ids(first.search(QUERY_TEXTS[3], k=10, mode="dense"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the quantiser was trained again")

    monkeypatch.setattr(vq_index, "fit_quantiser", refuse)
    with Collection.open(path, ENCODER) as reopened:
        index = reopened.store.index
        np.testing.assert_array_equal(index.codes.codes, codes)
        assert _ids(reopened.search(QUERY_TEXTS[3], k=10, mode="dense")) == expected
        # a write after reopening is encoded with the saved quantiser and caught up by generation
        reopened.add([{"id": "late", "text": QUERY_TEXTS[4]}])
        assert reopened.search(QUERY_TEXTS[4], k=1, mode="dense")[0].id == "late"
        generation = reopened.store.generation
    manifest = json.loads((path / "index" / MANIFEST).read_text())
    assert (manifest["kind"], manifest["generation"], manifest["spec"]) == ("vq", generation, SPEC)
    assert (path / "index" / manifest["file"] / "codes.safetensors").is_file()
    assert not list((path / "index").rglob("*.pkl"))
    # an index of an older generation never replaces a newer one (a slower process saving late)
    older = VectorIndex.load(path / "index")
    assert isinstance(older, VQIndex)
    older.generation -= 1
    assert older.save(path / "index") is False
    assert json.loads((path / "index" / MANIFEST).read_text())["file"] == manifest["file"]


def test_a_crashed_save_leaves_the_previous_index_in_use(built: tuple[Path, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    path = tmp_path / "vq"
    shutil.copytree(built[1], path)
    before = json.loads((path / "index" / MANIFEST).read_text())

    def die_halfway(self: QuantisedIndex, directory: Path) -> Path:
        Path(directory).mkdir(parents=True)
        (Path(directory) / "codes.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    with Collection.open(path, ENCODER) as vq:
        vq.add([{"id": "late", "text": QUERY_TEXTS[5]}])
        vq.store.sync()  # the index takes the write in memory; saving it is what fails
        monkeypatch.setattr(QuantisedIndex, "save", die_halfway)
        with pytest.raises(OSError, match="disk full"):
            vq.store.save_index()
        monkeypatch.undo()
        # the manifest still names the old, complete directory, and loading reads that one (a reopen would
        # catch it up by generation); the dead save's directory lies beside it, named .tmp
        index_dir = path / "index"
        assert json.loads((index_dir / MANIFEST).read_text())["file"] == before["file"]
        loaded = VectorIndex.load(index_dir)
        assert isinstance(loaded, VQIndex) and loaded.generation == before["generation"]
        assert loaded.size == ITEMS
        assert [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    # closing saves again; that save sweeps the dead one's directory away
    assert not [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    with Collection.open(path, ENCODER) as reopened:
        assert reopened.search(QUERY_TEXTS[5], k=1, mode="dense")[0].id == "late"


def test_a_collection_too_small_to_train_searches_exactly_until_it_grows(tmp_path: Path) -> None:
    minimum = vq_spec(SPEC).training_minimum  # 4 vectors per code: 128
    assert planned_spec(SPEC, minimum - 1, DIM) == "Flat" and planned_spec(SPEC, minimum, DIM) == SPEC
    with _make(tmp_path / "small", SPEC, RECORDS[:minimum - 1]) as small:
        info = small.info()
        assert (info["index"], info["index_in_use"]) == (SPEC, "Flat")
        assert small.search(RECORDS[7]["text"], k=1, mode="dense")[0].id == RECORDS[7]["id"]
        small.add(RECORDS[minimum - 1:minimum + 10])  # past the minimum: rebuilt as VQ, trained on them all
        index = small.store.index
        assert isinstance(index, VQIndex) and index.size == minimum + 10
        assert small.search(RECORDS[minimum + 3]["text"], k=1, mode="dense")[0].id == RECORDS[minimum + 3]["id"]
        assert index.codes.report.vectors == minimum + 10
        small.add(RECORDS[minimum + 10:4 * (minimum + 10) - 1])  # grown, not yet 4x what it was trained on
        assert small.store.index is index
        small.add(RECORDS[4 * (minimum + 10) - 1:4 * (minimum + 10)])  # 4x: retrained on them all
        assert small.store.index is not index and small.store.index.codes.report.vectors == 4 * (minimum + 10)


@pytest.mark.parametrize(("spec", "message"), [
    ("VQ7", "do not allow"),  # 32 dimensions do not split into 7 codebooks
    ("VQ8x9", "not a VQ index spec"),  # more than one byte a code
    ("VQ", "not a VQ index spec"),
    ("VQ8,R0", "not a VQ index spec"),
])
def test_bad_vq_specs_end_in_one_clear_sentence(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Collection.create(tmp_path / "bad", encoder=ENCODER, index=spec)


def test_outside_a_collection_a_vq_index_needs_a_fetch() -> None:
    with pytest.raises(ConfigError, match="only a collection"):
        VectorIndex.build(SPEC, DIM, np.arange(ITEMS), _points[:ITEMS])


def test_the_command_line_reindexes_into_vq_and_reports_it(sample_copy_dir: Path) -> None:
    from typer.testing import CliRunner

    from selfsim.cli.main import app

    runner = CliRunner()
    path = str(sample_copy_dir)
    result = runner.invoke(app, ["reindex", path, "--index", "VQ12x4,R20"])  # 16 codes: trains from 64 vectors
    assert result.exit_code == 0, result.stdout
    info = json.loads(runner.invoke(app, ["info", path, "--json"]).stdout)
    assert (info["index"], info["index_in_use"], info["index_agrees"]) == ("VQ12x4,R20", "VQ12x4,R20", True)
    hits = json.loads(runner.invoke(app, ["search", path, "compress data with zlib", "--mode", "dense", "--json",
                                          "-k", "3"]).stdout)
    assert len(hits) == 3 and hits[0]["score"] >= hits[-1]["score"]
    bad = runner.invoke(app, ["reindex", path, "--index", "VQ7"])  # 384 dimensions do not split in 7
    assert bad.exit_code != 0 and "choose a number of codebooks that divides 384" in str(bad.exception) + bad.stderr


def test_a_candidate_whose_vector_is_gone_is_never_returned() -> None:
    vectors = _points[:ITEMS]
    gone = set(range(0, ITEMS, 2))  # deleted by another writer after the codes were read

    def fetch(ids: np.ndarray) -> np.ndarray:
        rows = vectors[ids].copy()
        rows[[int(i) in gone for i in ids]] = np.nan
        return rows

    index = VectorIndex.build(SPEC, DIM, np.arange(ITEMS), vectors, fetch=fetch)
    scores, ids = index.search(_points[ITEMS:ITEMS + 5], 10)
    assert isinstance(index, VQIndex) and (ids >= 0).all() and not set(ids.ravel().tolist()) & gone
    assert np.isfinite(scores).all()
    few_scores, few = index.search(_points[ITEMS], 10, allowed=np.array([0, 2, 4, 5]))  # only 5 is left
    assert few[0].tolist() == [5] + [-1] * 9 and np.isneginf(few_scores[0, 1:]).all()
