"""Ray indexing and sharded search on a local two-CPU Ray cluster, with the tiny encoder.

One cluster serves the whole module (starting Ray costs seconds); every test here goes through the
public functions of :mod:`selfsim.app.distributed` or the task modules, on real SQLite collections.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_text import TINY_TEXTS

ray = pytest.importorskip("ray")

from selfsim.app import Collection  # noqa: E402
from selfsim.app.distributed import shard_collection, sharded_search  # noqa: E402
from selfsim.config import IngestConfig  # noqa: E402
from selfsim.errors import ConflictError  # noqa: E402
from selfsim.store.vectors import VectorIndex  # noqa: E402
from selfsim.tasks.distributed.pipeline import (  # noqa: E402
    EncodeWorker,
    RayIndexConfig,
    ray_ingest_files,
    read_files,
    unpack,
)
from selfsim.tasks.distributed.shards import ShardConfig, ShardedIndex, merge_top_k  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local Ray cluster of two CPUs for this module; this module's classes travel to it by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=256 * 2**20)
    yield ray
    ray.shutdown()


def records(count: int, prefix: str = "r") -> list[dict[str, Any]]:
    """``count`` records of varied text and some metadata (a few long enough to make two chunks)."""
    rng = np.random.default_rng(0)
    rows = []
    for number in range(count):
        words = " ".join(rng.choice(TINY_TEXTS, size=1 + number % 4))
        rows.append({"id": f"{prefix}{number}", "text": f"{words} {number}", "group": number % 3})
    return rows


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


class CrashOnce(EncodeWorker):
    """An encoder actor whose process dies on its first batch, once per marker file."""

    marker = ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        marker = Path(self.marker)
        if marker.parent.is_dir() and not marker.exists():
            marker.write_text("crashed")
            os._exit(1)  # the whole worker process, as a killed machine would go
        return super().__call__(batch)


def stored(collection: Collection) -> dict[str, tuple[str, dict[str, Any]]]:
    return {item.id: (item.text, item.metadata) for item in collection.items()}


def test_every_item_is_indexed_exactly_once_even_when_a_worker_dies(cluster: Any, tiny_model_dir: Path,
                                                                     tmp_path: Path) -> None:
    rows = records(150)
    first = write(tmp_path / "a.jsonl", rows[:100] + ["{not json"] + [{"id": "r3", "text": "Birds fly over the sea."}])
    second = write(tmp_path / "b.jsonl", rows[100:])
    empty = write(tmp_path / "empty.jsonl", [])
    config = IngestConfig(on_error="skip", batch_size=16)
    files = [first, second, empty]
    with Collection.create(tmp_path / "local", encoder=str(tiny_model_dir), backend="onnx") as local:
        expected = local.index_files(files, config)
        want, want_ids, want_vectors = stored(local), *local.vectors()
        want_chunks = local.info()["chunks"]
    CrashOnce.marker = str(tmp_path / "crashed")
    with Collection.create(tmp_path / "ray", encoder=str(tiny_model_dir), backend="onnx") as target:
        report = ray_ingest_files(target.store, target.encoder, files, config,
                                  RayIndexConfig(workers=2, encode_batch=20), worker=CrashOnce)
        got, got_ids, got_vectors = stored(target), *target.vectors()
        chunks = target.info()["chunks"]
    assert (tmp_path / "crashed").read_text() == "crashed"  # a worker did die mid-run
    assert got == want and len(got) == 150 and got["r3"][0] == "Birds fly over the sea."  # the later r3 won
    assert (report.items, report.chunks, report.replaced) == (expected.items, expected.chunks, expected.replaced)
    assert report.replaced_ids == ["r3"] and len(report.skipped) == 1 and "a.jsonl" in str(report.skipped[0])
    assert report.empty_files == [str(empty)] or report.empty_files == [str(empty.resolve())]
    assert chunks == want_chunks == 150  # one chunk per item: none was written twice
    assert got_ids == want_ids
    assert np.allclose(got_vectors, want_vectors, atol=1e-5)


def test_records_travel_in_packets_of_one_encoder_call(tmp_path: Path) -> None:
    # A packet is one Ray Data block, one task and one encoder call: many per file, so that every actor takes
    # a share of a file and each packet reaches the writer as soon as it is encoded.
    path = write(tmp_path / "a.jsonl", records(150)[:130] + ["{not json"] + records(150)[130:])
    files = {"path": np.array([str(path)]), "file": np.array([3])}
    packets = [np.array(batch["packet"], dtype=object) for batch in read_files(files, IngestConfig(), block_rows=64)]
    rows = [next(unpack({"packet": packet})) for packet in packets]
    assert [len(r["seq"]) for r in rows] == [64, 64, 23]
    seqs = [seq for r in rows for seq in r["seq"]]
    assert seqs == sorted(seqs) and seqs[0] == (3 << 40) + 1  # input order: file number high, record low
    assert [kind for r in rows for kind in r["kind"]].count("error") == 1


@pytest.mark.slow  # another pool of actors (~10 s); the default run keeps the exactly-once test above
def test_the_command_line_indexes_on_ray_and_stops_at_a_bad_record(cluster: Any, tiny_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selfsim.app import StoppedAtError
    from selfsim.cli.main import app

    path = write(tmp_path / "bad.jsonl", records(30) + ["{oops"] + records(5, prefix="late"))
    target = tmp_path / "c"
    options = ["--encoder", str(tiny_model_dir), "--backend", "onnx", "--batch-size", "8", "--workers", "1"]
    result = CliRunner().invoke(app, ["index", str(target), str(path), *options, "--ray"])
    assert isinstance(result.exception, StoppedAtError) and "bad.jsonl line 31" in str(result.exception)
    with Collection.open(target) as stored_collection:  # the 30 records before the bad one were stored
        assert len(stored_collection) == 30 and "late0" not in stored_collection
    good = write(tmp_path / "good.jsonl", records(5, prefix="late"))
    result = CliRunner().invoke(app, ["index", str(target), str(good), *options, "--json", "--ray-address", "local"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total_items"] == 35


# -- sharded search -----------------------------------------------------------------------------------


def planted(count: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors in clusters, and queries near planted members (distinct scores, so top-k is unambiguous)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((16, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 16, count)] + 0.6 * rng.standard_normal((count, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(count, 25, replace=False)] + 0.1 * rng.standard_normal((25, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ids = np.arange(10, 10 + count, dtype=np.int64) * 3  # ids that are not positions
    return ids, vectors, queries.astype(np.float32)


def test_sharded_top_k_equals_one_index(cluster: Any) -> None:
    ids, vectors, queries = planted(3000, 32)
    want_scores, want = VectorIndex.build("Flat", 32, ids, vectors).search(queries, 10)
    with ShardedIndex.from_arrays(ids, vectors, ShardConfig(shards=4)) as sharded:
        sizes = [shard["size"] for shard in sharded.wait()]
        got_scores, got = sharded.search(queries, 10)
        _, deep = sharded.search(queries[:2], 3000)  # deeper than any shard: every vector, once
    assert sorted(sizes) == [750] * 4  # dealt evenly by id
    assert np.array_equal(got, want) and np.allclose(got_scores, want_scores, atol=1e-6)
    assert all(sorted(row.tolist()) == ids.tolist() for row in deep)


def test_merge_puts_missing_results_last_and_breaks_ties_by_id() -> None:
    scores = [np.array([[0.9, 0.5, -np.inf]], np.float32), np.array([[0.9, 0.7, 0.1]], np.float32)]
    ids = [np.array([[8, 3, -1]]), np.array([[2, 5, 6]])]
    merged_scores, merged = merge_top_k(scores, ids, 4)
    assert merged.tolist() == [[2, 8, 5, 3]] and merged_scores[0, 0] == pytest.approx(0.9)
    _, short = merge_top_k([np.array([[0.2, -np.inf]], np.float32)], [np.array([[4, -1]])], 3)
    assert short.tolist() == [[4, -1, -1]]


@pytest.mark.slow  # three more shard actors (~10 s); the default run keeps the top-k test above
def test_shards_follow_the_store_generation(cluster: Any, tiny_model_dir: Path, tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="onnx") as collection:
        collection.add(records(60))
        with shard_collection(collection, shards=2) as sharded:
            query = np.random.default_rng(1).standard_normal(32).astype(np.float32)
            query /= np.linalg.norm(query)
            item_ids, item_vectors = collection.vectors()  # one chunk per item here, so item = chunk vector
            exact = dict(zip(item_ids, (item_vectors @ query).tolist(), strict=True))
            got = sharded_search(collection, sharded, query, 5)
            # The random tiny model maps some texts to one point, so ties are compared by score, not by id.
            assert np.allclose([score for _, score in got], sorted(exact.values(), reverse=True)[:5], atol=1e-5)
            assert all(abs(exact[item] - score) < 1e-5 for item, score in got) and len({i for i, _ in got}) == 5
            top = max(exact, key=exact.__getitem__)
            new = collection.get(top).text
            collection.add([{"id": "new", "text": new}])
            collection.delete(["r1", "r2"])
            stale = sharded.generation
            with pytest.raises(ConflictError):  # a shard never answers from another generation silently
                sharded.generation = collection.store.generation
                sharded.search(query, 5)
            sharded.generation = stale
            hits = sharded_search(collection, sharded, query, 5)  # caught up first
            assert sharded.generation == collection.store.generation
            assert all(shard["generation"] == sharded.generation for shard in sharded.wait())
            assert not {"r1", "r2"} & {item for item, _ in hits} and hits[0][1] == pytest.approx(exact[top], abs=1e-5)
            _, every = sharded.search(query, 100)
            assert sorted(every[0][every[0] >= 0].tolist()) == collection.store.chunk_ids().tolist()  # 59: +1 -2
            sharded.rebuild_shard(0, collection.store)
            assert sharded_search(collection, sharded, query, 5) == hits
