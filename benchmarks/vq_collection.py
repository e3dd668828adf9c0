"""A collection whose vector index is ``VQ48`` (learned-quantiser codes, re-ranked from SQLite) against ``Flat``.

Data: the SciFact corpus (5,183 documents, title + " " + text) indexed into two real collections with the
default ChunkingConfig (7,491 chunks), one with ``--index Flat`` and one with ``--index VQ48`` (48 one-byte
codes a chunk, 200 candidates re-ranked exactly from the float vectors in SQLite). The vectors are the
all-MiniLM-L6-v2 chunk and query vectors that benchmarks/compression.py cached under /tmp/selfsim-bench-cache
(one encoder pass, reused); a lookup encoder hands each text its cached vector, so both collections hold
exactly the same vectors and nothing is re-encoded. Queries: the 809 SciFact train queries (SciFact ships no
test queries here). The re-ranking depth (200) was chosen from compression.py's figures (SciFact train queries
and the 1M synthetic set), not on these runs, which report it once; depths 50 and 100 are shown beside it.

Figures, every search on one thread, one query at a time:
- recall@10 of the VQ index's chunk ids against the Flat index's (exact) over the same vectors;
- the same at the item level through ``Collection.search(mode="dense")`` (the top-10 items);
- p50 / p99 latency of ``store.index.search`` (codes scanned, 200 candidates' vectors read from SQLite and
  re-scored) and of a dense ``Collection.search`` (that plus the item lookups), beside Flat's;
- bytes a vector held in memory (codes + int64 id; Flat: 384 float32 + the id) and the quantiser's own bytes;
- build time: the index built from the stored vectors (training, encoding), and the save.

    python benchmarks/vq_collection.py [DATA_DIR] [--spec VQ48] [--work /tmp/selfsim-vq-collection]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, limit_threads, machine, write_result  # noqa: E402
from compression import embed_cached, scifact_texts  # noqa: E402

from selfsim import Collection  # noqa: E402

K = 10
DEPTHS = (50, 100, 200)


class CachedEncoder:
    """Each known text's cached all-MiniLM-L6-v2 vector: both collections hold the very same vectors."""

    name = "all-MiniLM-L6-v2 (cached vectors)"
    version = "benchmark-cache"
    dim = 384

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.row = {text: n for n, text in enumerate(texts)}
        self.vectors = vectors

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        missing = [text for text in texts if text not in self.row]
        if missing:
            raise KeyError(f"{len(missing)} texts have no cached vector, e.g. {missing[0][:80]!r}")
        if progress is not None:
            progress(len(texts))
        return self.vectors[[self.row[text] for text in texts]] if texts else np.zeros((0, self.dim), np.float32)


def documents(data: Path) -> list[dict[str, str]]:
    """The SciFact corpus as records: id and title + " " + text (as compression.py chunks it)."""
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [{"id": row["_id"], "text": f"{row['title']} {row['text']}".strip()} for row in rows]


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.array(seconds) * 1e3
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p99_ms": round(float(np.percentile(values, 99)), 3),
            "mean_ms": round(float(values.mean()), 3)}


def timed_each(work: Callable[[int], Any], count: int, warm_up: int = 20) -> tuple[list[Any], list[float]]:
    """``work(n)`` for each query ``n``, timed one by one, after ``warm_up`` untimed calls."""
    for n in range(min(warm_up, count)):
        work(n)
    results, seconds = [], []
    for n in range(count):
        started = time.perf_counter()
        results.append(work(n))
        seconds.append(time.perf_counter() - started)
    return results, seconds


def overlap(found: Sequence[Sequence[Any]], exact: Sequence[Sequence[Any]]) -> float:
    return float(np.mean([len(set(f) & set(e)) / max(len(e), 1) for f, e in zip(found, exact, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--spec", default="VQ48")
    parser.add_argument("--work", type=Path, default=Path("/tmp/selfsim-vq-collection"))
    parser.add_argument("--documents", type=int, default=None, help="only the first N documents (a smoke run)")
    parser.add_argument("--queries", type=int, default=None, help="only the first N queries (a smoke run)")
    parser.add_argument("--name", default="vq_collection", help="the result's name under benchmarks/results/")
    args = parser.parse_args()
    started = time.perf_counter()
    limit_threads(1)
    torch.set_num_threads(1)
    print(f"machine: {json.dumps(machine())}", flush=True)

    _, chunk_texts, query_texts = scifact_texts(args.data)
    chunk_vectors, query_vectors = embed_cached(chunk_texts), embed_cached(query_texts)
    encoder = CachedEncoder(chunk_texts + query_texts, np.concatenate([chunk_vectors, query_vectors]))
    records = documents(args.data)[:args.documents]
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)

    built: dict[str, dict[str, Any]] = {}
    for name, spec in (("flat", "Flat"), ("vq", args.spec)):
        path = args.work / name
        with Collection.create(path, encoder=encoder, index=spec) as collection:
            ingest_started = time.perf_counter()
            collection.add(records)
            ingest_s = time.perf_counter() - ingest_started
            build_started = time.perf_counter()
            collection.store.rebuild_index()  # the index from the stored vectors: training and encoding
            build_s = time.perf_counter() - build_started
            save_started = time.perf_counter()
            collection.store.save_index()
            save_s = time.perf_counter() - save_started
        built[name] = {"spec": spec, "path": str(path), "ingest_s": round(ingest_s, 2), "build_s": round(build_s, 2),
                       "save_s": round(save_s, 3)}
        print(f"{name}: ingested {len(records):,} documents in {ingest_s:.1f} s, index {spec} built in "
              f"{build_s:.1f} s, saved in {save_s:.2f} s", flush=True)

    with Collection.open(args.work / "flat", encoder) as flat, Collection.open(args.work / "vq", encoder) as vq:
        flat_index, vq_index = flat.store.index, vq.store.index  # loaded from disk, as a reopen does
        for collection in (flat, vq):  # a warm service: the stored vectors' pages in the OS cache
            sum(len(batch.ids) for batch in collection.store.vectors())
        Q = min(len(query_vectors), args.queries or len(query_vectors))
        exact, flat_index_s = timed_each(lambda n: flat_index.search(query_vectors[n], K)[1][0], Q)
        found, vq_index_s = timed_each(lambda n: vq_index.search(query_vectors[n], K)[1][0], Q)
        chunk_recall = overlap([f.tolist() for f in found], [e.tolist() for e in exact])
        depths = {}
        for depth in DEPTHS:
            at_depth, seconds = timed_each(
                lambda n, depth=depth: vq_index.codes.search(query_vectors[n][None], K, rerank=depth)[1][0], Q)
            depths[str(depth)] = {"recall@10": round(overlap([f.tolist() for f in at_depth],
                                                             [e.tolist() for e in exact]), 4), **percentiles(seconds)}
        codes_only = [vq_index.codes.search(query_vectors[n][None], K)[1][0] for n in range(Q)]
        code_recall = overlap([f.tolist() for f in codes_only], [e.tolist() for e in exact])

        def dense(collection: Collection) -> Callable[[int], list[str]]:
            return lambda n: [hit.id for hit in collection.search(query_texts[n], k=K, mode="dense")]

        flat_items, flat_search_s = timed_each(dense(flat), Q)
        vq_items, vq_search_s = timed_each(dense(vq), Q)
        item_recall = overlap(vq_items, flat_items)
        details = vq_index.details
        info = vq.info()

    result: dict[str, Any] = {
        "data": (f"{args.data / 'scifact'}: {len(records):,} documents (title + text) in {info['chunks']:,} chunks "
                 "(default ChunkingConfig), all-MiniLM-L6-v2 vectors cached by benchmarks/compression.py; queries: "
                 f"the {Q} SciFact train queries (no test queries ship with this copy)"),
        "split": "train queries; the re-ranking depth was fixed beforehand from compression.py's figures",
        "threads": 1, "k": K, "spec": args.spec, "index_in_use": info["index_in_use"],
        "recall@10_chunks_vs_flat": round(chunk_recall, 4),
        "recall@10_items_vs_flat_dense_search": round(item_recall, 4),
        "recall@10_chunks_codes_only": round(code_recall, 4),
        "recall@10_chunks_by_rerank_depth": depths,
        "index_search_latency": {"vq": percentiles(vq_index_s), "flat": percentiles(flat_index_s)},
        "dense_search_latency": {"vq": percentiles(vq_search_s), "flat": percentiles(flat_search_s)},
        "memory": {"vq_bytes_per_vector": details["bytes_per_vector"],
                   "vq_code_bytes_per_vector": details["code_bytes_per_vector"],
                   "vq_index_bytes": details["index_bytes"], "vq_quantiser_bytes": details["quantiser_bytes"],
                   "flat_bytes_per_vector": 384 * 4 + 8,
                   "note": "Flat: the float32 vector and its id in FAISS's id map (plus the map's hash table)"},
        "codebook_perplexity": details["codebook_perplexity"],
        "least_codebook_perplexity": details["least_codebook_perplexity"],
        "training": {"trained_on": details["trained_on"], "seconds": details["training_seconds"],
                     "reconstruction_mse": details["training_reconstruction_mse"]},
        "build": built,
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("build",)}, indent=2), flush=True)
    write_result(args.name, result)


if __name__ == "__main__":
    main()
