"""Query latency over a 100k-chunk collection: p50 / p95 / p99 of dense, keyword and hybrid search.

The collection holds 100,000 real short texts, one chunk each: SST-2 train
phrases, STS-B and MRPC sentences, TREC questions, the bundled docstrings and
paragraphs of 20 Newsgroups posts, each with metadata ``source`` and a random
``bucket`` 0-99. Queries are held-out sentences (SST-2 dev, TREC test). Each
latency is one ``Collection.search(query, k=10)`` call, query encoding included,
measured after a warm-up; filtered runs use ``bucket < 10`` (10% of items) and
``source = trec`` (5%).

The collection is built once (embedding 100k texts takes a few minutes) and kept
in ``--collection`` for reruns.

Usage: python benchmarks/search_latency.py [DATA_DIR] [--queries 300] [--index Flat]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import DEFAULT_DATA, write_result

from selfsim import Collection, Record

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "selfsim" / "sample" / "stdlib_docs.jsonl"
SIZE = 100_000
TARGET_P99_HYBRID_MS = 50.0


def _tsv(path: Path, columns: list[str]) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            for column in columns:
                if row.get(column):
                    yield row[column]


def texts(data: Path) -> Iterator[tuple[str, str]]:
    """``(source, text)`` pairs of distinct short texts, in a fixed order."""
    yield from (("sst2", t) for t in _tsv(data / "sst2" / "train.tsv", ["text"]))
    yield from (("stsb", t) for t in _tsv(data / "stsb" / "train.tsv", ["sentence1", "sentence2"]))
    yield from (("mrpc", t) for t in _tsv(data / "mrpc" / "train.tsv", ["sentence1", "sentence2"]))
    yield from (("trec", t) for t in _tsv(data / "trec" / "train.tsv", ["text"]))
    with SAMPLE.open(encoding="utf-8") as handle:
        yield from (("docs", json.loads(line)["text"][:600]) for line in handle)
    with gzip.open(data / "20ng" / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            for paragraph in re.split(r"\n\s*\n", json.loads(line)["text"]):
                words = paragraph.split()
                if 8 <= len(words) <= 120:  # one chunk each
                    yield "20ng", " ".join(words)


def build(path: Path, data: Path, index: str) -> Collection:
    rng = random.Random(0)
    seen: set[str] = set()
    records = []
    for source, text in texts(data):
        if text in seen:
            continue
        seen.add(text)
        records.append(Record(f"{source}-{len(records)}", text, {"source": source, "bucket": rng.randrange(100)}))
        if len(records) == SIZE:
            break
    collection = Collection.create(path, index=index)
    started = time.perf_counter()
    report = collection.upsert(records, batch_size=4096)
    collection.store.save_index()
    print(f"built {len(records):,} items in {time.perf_counter() - started:.0f} s "
          f"({report.items_per_second:.0f} items/s)")
    return collection


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    values = np.asarray(milliseconds)
    return {"p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "p99": round(float(np.percentile(values, 99)), 2), "mean": round(float(values.mean()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", type=Path, default=Path("/tmp/selfsim-latency-100k"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", default="Flat", help="FAISS spec to measure (the index is rebuilt if needed)")
    args = parser.parse_args()

    if (args.collection / "collection.sqlite").exists():
        collection = Collection.open(args.collection)
        if collection.store.config.index != args.index:
            collection.set_index(args.index)
    else:
        collection = build(args.collection, args.data, args.index)
    info = collection.info()
    queries = [*_tsv(args.data / "sst2" / "dev.tsv", ["text"]), *_tsv(args.data / "trec" / "test.tsv", ["text"])]
    random.Random(1).shuffle(queries)
    queries = queries[:args.queries]
    for query in queries[:20]:  # warm-up: caches, threads, lazy loads
        collection.search(query, k=10)

    runs = {"dense": ("dense", None), "keyword": ("keyword", None), "hybrid": ("hybrid", None),
            "hybrid, bucket<10": ("hybrid", {"bucket": {"$lt": 10}}),
            "dense, source=trec": ("dense", {"source": "trec"})}
    results = {}
    for name, (mode, spec) in runs.items():
        timings, returned = [], []
        for query in queries:
            started = time.perf_counter()
            hits = collection.search(query, k=10, mode=mode, filter=spec)
            timings.append((time.perf_counter() - started) * 1000)
            returned.append(len(hits))
        results[name] = {**percentiles(timings), "mean_hits": round(float(np.mean(returned)), 2)}
        print(f"{name:20s} p50 {results[name]['p50']:6.2f} ms  p95 {results[name]['p95']:6.2f} ms  "
              f"p99 {results[name]['p99']:6.2f} ms  ({results[name]['mean_hits']} hits)")
    encode = []
    for query in queries:
        started = time.perf_counter()
        collection.encoder.encode([query])
        encode.append((time.perf_counter() - started) * 1000)
    results["query encoding alone"] = percentiles(encode)
    p99 = results["hybrid"]["p99"]
    print(f"query encoding alone p50 {results['query encoding alone']['p50']} ms; "
          f"hybrid p99 {p99} ms (target < {TARGET_P99_HYBRID_MS} ms)")
    write_result(f"search_latency_{args.index.replace(',', '_')}", {
        "data": f"{SIZE:,} short texts from {args.data} (see docstring)", "items": info["items"],
        "chunks": info["chunks"], "index": info["index_in_use"], "queries": len(queries), "k": 10,
        "latency_ms": results, "target_p99_hybrid_ms": TARGET_P99_HYBRID_MS,
        "meets_target": p99 < TARGET_P99_HYBRID_MS})
    collection.close()


if __name__ == "__main__":
    main()
