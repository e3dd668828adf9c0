"""Ray scaling: batch encoding with 1 and 2 Ray workers against the plain path, and sharded search on 1M vectors.

Part 1 (encoding). The first ``--docs`` SciFact corpus documents (title + abstract) are indexed into fresh
collections with all-MiniLM-L6-v2 on the default onnx-int8 backend, every encoder on one thread:
  - plain: the single-process path (selfsim.tasks.ingest.ingest_files), one ONNX session of one thread;
  - ray-1 / ray-2: the Ray Data pipeline (selfsim.tasks.distributed.pipeline) with 1 or 2 encoder actors of
    one CPU and one thread each, the driver writing. The local cluster is started before the clock starts
    (as a job joining a running cluster finds it; its start is reported apart); actor start-up and model
    loading are inside the timing.
  - plain-2 (with ``--plain-threads 1 2``): the plain path with a two-thread session, for context only.
The comparison the targets use is at equal encoder threads: "one worker" is one Ray actor of one CPU and
one thread, "the plain path" one process with one encoder thread. Every timed call starts by loading the
driver's model (both paths load it; the Ray path's actors load theirs inside the timing too).
Targets: ray-2 >= 1.7x ray-1 in chunks/s; ray-1 within 10% of plain (wall time of the indexing call).

Part 2 (sharded search). ``--vectors`` synthetic 384-d unit vectors in 1,000 Gaussian clusters (a stand-in
for MiniLM vectors, which we do not have a million of: the figures depend on count and dimension, not on
meaning); 200 queries near stored vectors. One exact Flat index against 4 Flat shards on Ray actors: the
top 10 must be identical; p50/p99 latency one query at a time, and batch throughput. Bytes per vector of
each index kind are measured on a 20k sample by serialising the FAISS index.

Part 3 writes the 100M projection from those measured figures (also in docs/ray.md).

    flock /tmp/selfsim-heavy.lock .venv/bin/python benchmarks/ray_scaling.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, write_result  # noqa: E402

DIM = 384
TOP = 10


def scifact_slice(data: Path, count: int, target: Path) -> Path:
    """The first ``count`` SciFact corpus documents as a JSONL file."""
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as source, target.open("w") as out:
        for number, line in enumerate(source):
            if number >= count:
                break
            out.write(line)
    return target


def index_once(mode: str, file: Path, scratch: Path, workers: int = 1, threads: int = 1,
               encode_batch: int = 256) -> dict[str, Any]:
    """Index ``file`` into a fresh collection by ``mode`` (plain or ray); time loading the model and indexing."""
    from selfsim.app import Collection
    from selfsim.config import DEFAULT_ENCODER, IngestConfig
    from selfsim.tasks.distributed.pipeline import RayIndexConfig, load_worker_encoder, ray_ingest_files
    from selfsim.tasks.ingest import ingest_files

    config = IngestConfig(id_field="_id", text_fields=("title", "text"))
    marks: list[tuple[float, int]] = []  # (time, items) at each written batch

    def progress(count: int) -> None:
        marks.append((time.perf_counter(), count))

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    encoder = load_worker_encoder(DEFAULT_ENCODER, "onnx-int8", threads)  # the driver's model, either path
    with Collection.create(scratch / f"{mode}-{workers}-{threads}", encoder=encoder) as collection:
        if mode == "plain":
            report = ingest_files(collection.store, encoder, [file], config, progress)
        else:
            report = ray_ingest_files(collection.store, encoder, [file], config,
                                      RayIndexConfig(workers=workers, threads=1, encode_batch=encode_batch), progress)
        seconds = time.perf_counter() - started
        stored = len(collection)
    # Steady state: from the first batch written to the last (start-up, model loading and the first batch's
    # encoding left out), in items per second.
    steady = sum(n for _, n in marks[1:]) / (marks[-1][0] - marks[0][0]) if len(marks) > 2 else None
    return {"seconds": round(seconds, 2), "items": report.items, "chunks": report.chunks, "stored": stored,
            "chunks_per_s": round(report.chunks / seconds, 2), "first_batch_seconds": round(marks[0][0] - started, 2),
            "batches_written": len(marks), "steady_items_per_s": round(steady, 2) if steady else None,
            "encoder_threads": threads, "loadavg_1min_before": round(load_before, 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2)}


def encoding(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    import ray

    from selfsim.tasks.distributed.cluster import quiet_data

    file = scifact_slice(args.data, args.docs, scratch / "scifact.jsonl")
    rows: dict[str, Any] = {}
    rows["plain"] = index_once("plain", file, scratch)
    print(f"plain  {rows['plain']}", flush=True)
    for threads in sorted(set(args.plain_threads) - {1}):
        rows[f"plain-{threads}"] = index_once("plain", file, scratch, threads=threads)
        print(f"plain-{threads}  {rows[f'plain-{threads}']}", flush=True)
    begun = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=512 * 2**20)
    quiet_data()
    init_seconds = round(time.perf_counter() - begun, 2)
    try:
        for workers in (1, 2):
            rows[f"ray-{workers}"] = index_once("ray", file, scratch, workers, encode_batch=args.encode_batch)
            print(f"ray-{workers}  {rows[f'ray-{workers}']}", flush=True)
    finally:
        ray.shutdown()
    try:
        writer = writer_speed(file, scratch)
    except Exception as error:  # a side figure: never lose the main ones to it
        writer = {"error": repr(error)}
    print(f"writer {writer}", flush=True)
    scaling = rows["ray-2"]["chunks_per_s"] / rows["ray-1"]["chunks_per_s"]
    overhead = rows["ray-1"]["seconds"] / rows["plain"]["seconds"] - 1
    with_init = (rows["ray-1"]["seconds"] + init_seconds) / rows["plain"]["seconds"] - 1
    return {"data": f"SciFact corpus, first {args.docs} documents (title + abstract), test split not involved",
            "encoder": "all-MiniLM-L6-v2, onnx-int8, 1 thread per encoder (plain-N rows: N threads)",
            "comparison": "equal encoder threads: ray-1 is one Ray actor of 1 CPU running a 1-thread encoder, "
                          "plain is one process with a 1-thread encoder; ray-2 is two such actors. Each time "
                          "covers loading the driver's model and indexing (the actors' start and model loading "
                          "included); the local cluster's start (ray_init_seconds) is not, as a job joining a "
                          "running cluster does not pay it. The tokenizer's own threads are left as they are "
                          "in every row. steady_items_per_s (first write to last) overstates the Ray rows: "
                          "their writes lag the encoding by a packet or two (Ray Data's prefetching) until the "
                          "last one, so compare wall times.",
            "ray_init_seconds": init_seconds, "encode_batch": args.encode_batch,
            "rows": rows, "scaling_2_vs_1": round(scaling, 3), "ray_overhead_at_1": round(overhead, 4),
            "ray_overhead_at_1_with_cluster_start": round(with_init, 4),
            "writer": writer,
            "meets": {"scaling >= 1.7": scaling >= 1.7, "overhead <= 10%": overhead <= 0.10}}


def writer_speed(file: Path, scratch: Path, items: int = 10_000) -> dict[str, Any]:
    """How fast the one writer stores items (texts of ``file`` under new ids, random 384-d vectors, one chunk
    each, transactions of 256): the ceiling of a pipeline with any number of encoders."""
    from selfsim.app import Collection
    from selfsim.config import DEFAULT_ENCODER
    from selfsim.data.chunking import Chunk
    from selfsim.data.records import Record
    from selfsim.store.database import PreparedItem
    from selfsim.tasks.distributed.pipeline import load_worker_encoder

    texts = [json.loads(line)["text"] for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((items, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    encoder = load_worker_encoder(DEFAULT_ENCODER, "onnx-int8", 1)
    with Collection.create(scratch / "writer", encoder=encoder) as collection:
        started = time.perf_counter()
        for first in range(0, items, 256):
            batch = []
            for number in range(first, min(items, first + 256)):
                text = texts[number % len(texts)]
                batch.append(PreparedItem(Record(f"w{number}", text, {"n": number}),
                                          [Chunk(0, 0, len(text), text)], vectors[number:number + 1]))
            collection.store.put(batch, replace=True)
        seconds = time.perf_counter() - started
    return {"items": items, "seconds": round(seconds, 2), "items_per_s": round(items / seconds, 1),
            "text_words_mean": round(float(np.mean([len(t.split()) for t in texts])), 1)}


def synthetic(count: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unit vectors around 1,000 centres, and ``queries`` unit vectors near random stored ones."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, DIM), dtype=np.float32)
    vectors = np.empty((count, DIM), dtype=np.float32)
    for first in range(0, count, 100_000):  # in slices: the noise of 1M rows at once would double the memory
        last = min(count, first + 100_000)
        vectors[first:last] = centres[rng.integers(0, 1000, last - first)]
        vectors[first:last] += 1.5 * rng.standard_normal((last - first, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = vectors[rng.choice(count, queries, replace=False)]
    near = picked + 0.05 * rng.standard_normal(picked.shape, dtype=np.float32)
    return vectors, near / np.linalg.norm(near, axis=1, keepdims=True)


def bytes_per_vector(vectors: np.ndarray) -> dict[str, float]:
    """Serialised size per vector of each index kind, on ``vectors`` (ids included, as selfsim stores them)."""
    import faiss

    from selfsim.store.vectors import VectorIndex

    sizes = {}
    ids = np.arange(len(vectors), dtype=np.int64)
    for spec in ("Flat", "SQ8", "HNSW32", "IVF256,PQ48"):
        index = VectorIndex.build(spec, DIM, ids, vectors)
        sizes[spec] = round(len(faiss.serialize_index(index.index)) / len(vectors), 1)
    return sizes


def sharded(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from selfsim.store.vectors import VectorIndex
    from selfsim.tasks.distributed.shards import ShardConfig, ShardedIndex, timed_search

    begun = time.perf_counter()
    vectors, queries = synthetic(args.vectors, args.queries)
    ids = np.arange(len(vectors), dtype=np.int64)
    made = time.perf_counter() - begun
    sizes = bytes_per_vector(vectors[:20_000])
    print(f"bytes per vector: {sizes}", flush=True)
    whole = VectorIndex.build("Flat", DIM, ids, vectors)
    want, whole_ms = timed_search(whole, queries, TOP)
    started = time.perf_counter()
    _, want_batch = whole.search(queries, TOP)
    whole_batch_qps = len(queries) / (time.perf_counter() - started)
    del whole
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=int(DIM * 4 * args.vectors * 1.3) + 256 * 2**20)
    try:
        started = time.perf_counter()
        index = ShardedIndex.from_arrays(ids, vectors, ShardConfig(shards=args.shards))
        build_seconds = time.perf_counter() - started
        del vectors
        timed_search(index, queries[:10], TOP)  # warm the actors' first call
        got, shard_ms = timed_search(index, queries, TOP)
        started = time.perf_counter()
        _, got_batch = index.search(queries, TOP)
        shard_batch_qps = len(queries) / (time.perf_counter() - started)
        shard_sizes = [shard["size"] for shard in index.wait()]
        index.close()
    finally:
        ray.shutdown()
    same_rows = int(sum(np.array_equal(a, b) for a, b in zip(got, want, strict=True)))
    same_sets = int(sum(set(a.tolist()) == set(b.tolist()) for a, b in zip(got, want, strict=True)))
    return {
        "data": f"{args.vectors:,} synthetic 384-d unit vectors in 1,000 Gaussian clusters; {args.queries} queries "
                "near stored vectors (synthetic, not MiniLM vectors)",
        "generate_seconds": round(made, 1), "shards": args.shards, "shard_sizes": shard_sizes,
        "build_seconds": round(build_seconds, 1), "bytes_per_vector_20k_sample": sizes,
        "identical_top10_rows": same_rows, "identical_top10_sets": same_sets, "queries": len(queries),
        "identical_top10_batch": bool(np.array_equal(got_batch, want_batch)),
        "one_index": {"p50_ms": round(float(np.percentile(whole_ms, 50)), 2),
                      "p99_ms": round(float(np.percentile(whole_ms, 99)), 2),
                      "batch_qps": round(whole_batch_qps, 1)},
        "sharded": {"p50_ms": round(float(np.percentile(shard_ms, 50)), 2),
                    "p99_ms": round(float(np.percentile(shard_ms, 99)), 2),
                    "batch_qps": round(shard_batch_qps, 1)},
        "meets": {"identical top-10": same_rows == len(queries)}}


def projection(enc: dict[str, Any] | None, search: dict[str, Any] | None) -> dict[str, Any]:
    """100M items from the measured per-worker figures (the arithmetic, so it can be checked)."""
    out: dict[str, Any] = {"items": 100_000_000, "chunks_per_item": None}
    if enc is not None:
        rows = enc["rows"]
        per_worker = rows["ray-2"]["chunks_per_s"] / 2
        chunks_per_item = rows["plain"]["chunks"] / max(rows["plain"]["items"], 1)
        chunks = 100_000_000 * chunks_per_item
        out.update({"chunks_per_item": round(chunks_per_item, 2), "chunks": int(chunks),
                    "chunks_per_s_per_worker_core": round(per_worker, 2),
                    "core_hours": round(chunks / per_worker / 3600), "days_on_100_cores":
                    round(chunks / (per_worker * 100) / 86400, 1)})
    if search is not None:
        sizes = search["bytes_per_vector_20k_sample"]
        out["memory_gib_per_100M"] = {spec: round(size * 1e8 / 2**30, 1) for spec, size in sizes.items()}
        per_shard_vectors = search["shard_sizes"][0]
        out["measured_shard"] = {"vectors": per_shard_vectors, "p50_ms": search["sharded"]["p50_ms"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--encode-batch", type=int, default=None,
                        help="records per Ray packet (default: RayIndexConfig's)")
    parser.add_argument("--plain-threads", type=int, nargs="+", default=[1],
                        help="Encoder threads of the plain rows (1 is always run: the targets' comparison).")
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--skip-encoding", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--name", default="ray_scaling")
    parser.add_argument("--encoding-from", type=Path, default=None,
                        help="Take part 1 from this earlier result JSON instead of running it (the parts can then "
                             "run in separate turns of the heavy-job lock).")
    parser.add_argument("--search-from", type=Path, default=None,
                        help="Take part 2 from this earlier result JSON instead of running it.")
    args = parser.parse_args()
    if args.encode_batch is None:
        from selfsim.tasks.distributed.pipeline import RayIndexConfig

        args.encode_batch = RayIndexConfig().encode_batch
    load_before = os.getloadavg()
    started = time.perf_counter()
    earlier: dict[str, Any] = {}
    if args.encoding_from is not None:
        earlier = json.loads(args.encoding_from.read_text())
        enc = earlier["encoding"]
    else:
        with tempfile.TemporaryDirectory(prefix="selfsim-ray-") as scratch:
            enc = None if args.skip_encoding else encoding(args, Path(scratch))
    load_after_encoding = os.getloadavg()
    if args.search_from is not None:
        search = json.loads(args.search_from.read_text())["sharded_search"]
    else:
        search = None if args.skip_search else sharded(args)
    result = {"data": str(args.data), "encoding": enc, "sharded_search": search,
              "projection_100M": projection(enc, search),
              "loadavg_before": earlier.get("loadavg_before", [round(x, 2) for x in load_before]),
              "loadavg_after_encoding": earlier.get("loadavg_after_encoding",
                                                    [round(x, 2) for x in load_after_encoding]),
              "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps({k: v for k, v in result.items() if k != "projection_100M"}, indent=1))
    write_result(args.name, result)


if __name__ == "__main__":
    main()
