"""Query latency over a 100k-chunk collection: dense, keyword and hybrid search, unfiltered and under selective
metadata filters, p50 / p95 / p99, in one run.

The collection holds 100,000 real short texts, one chunk each: SST-2 train
phrases, STS-B and MRPC sentences, TREC questions, the bundled docstrings and
paragraphs of 20 Newsgroups posts, each with metadata ``source`` and a random
``bucket`` 0-99. Queries are held-out sentences (SST-2 dev, TREC test). Each
latency is one ``Collection.search(query, k=10)`` call, query encoding included,
measured after a warm-up; query encoding alone is timed too, so its share shows.

Filters pass about 0.1% (``source = stsb`` and one ``bucket``), 1% (one ``bucket``) and 10% (ten buckets, a
range) of the items, in four states:

- **first use**: everything filters left behind is forgotten before each query (``Store.forget_filters``),
  so the filter is evaluated on every item's JSON in SQLite, as for a field's first filter in a process;
- **after a write**: one item's metadata is updated before each query (untimed), so the filter's cached ids
  are stale and the field tables of ``selfsim.store.filter_columns`` are one write behind: they catch up
  (a scan of the items' generations, no JSON) before answering;
- **new value**: each query filters on a value no earlier query used, on fields filtered on before, so it
  is answered from the field tables;
- **repeated**: the same filter for every query (a facet): its chunk ids come from the cache.

Target: hybrid p99 < 50 ms unfiltered, and a selective filter no slower than 2x the unfiltered search
(compared at p50 and p99). The run also measures the two ways the vector index can apply a filter (scoring
the allowed vectors exactly, or a selector inside the FAISS search) at several shares, on one thread, which
is how ``selfsim.store.vectors`` picks between them.

The collection is built once (embedding 100k texts takes ~10 minutes on 2 cores) and kept in
``--collection`` for reruns; service_load.py's ``/tmp/selfsim-load-100k`` holds the same collection, and a
copy of it serves.

Usage: python benchmarks/search_latency.py [DATA_DIR] [--queries 300] [--index Flat]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


TARGET_FILTER_RATIO = 2.0
# name -> (share of items, a filter for query number n: distinct for different n, so "new value" never repeats one)
FILTERS = {
    "0.1%": (0.001, lambda n: {"source": "stsb", "bucket": n % 100}),
    "1%": (0.01, lambda n: {"bucket": n % 100}),
    "10%": (0.1, lambda n: {"bucket": {"$gte": n % 91, "$lt": n % 91 + 10}}),
}
STATES = ("first use", "after a write", "new value", "repeated")


def timed(collection: Collection, queries: list[str], mode: str, filter_for: Any = None,
          state: str = "new value") -> dict[str, float]:
    """Percentiles (ms) of ``collection.search`` over ``queries``, with ``filter_for(n)`` as the n-th filter (the
    first one for every query when ``state`` is "repeated"), after an untimed write when it is "after a write"."""
    timings, returned = [], []
    touched = next(iter(collection.items())).id
    for number, query in enumerate(queries):
        spec = None if filter_for is None else filter_for(0 if state == "repeated" else number)
        if state == "first use":
            collection.store.forget_filters()
        elif state == "after a write":
            collection.update_metadata({touched: {"touched": number}})  # a new generation
        elif state == "new value":
            collection.store.filters.clear()  # the ids of filters already seen: this one is new anyway
        started = time.perf_counter()
        hits = collection.search(query, k=10, mode=mode, filter=spec)  # type: ignore[arg-type]
        timings.append((time.perf_counter() - started) * 1000)
        returned.append(len(hits))
    return {**percentiles(timings), "mean_hits": round(float(np.mean(returned)), 2)}


def filter_paths(collection: Collection, queries: list[str]) -> list[dict[str, Any]]:
    """One thread, 50 queries: the vector index restricted to a random allowed share of its vectors, scored
    exactly (pre-filter) or filtered inside the FAISS search (selector), as selfsim.store.vectors chooses."""
    import faiss

    import selfsim.store.vectors as vectors_module

    index = collection.store.index
    ids = collection.store.chunk_ids()
    vectors = collection.encoder.encode(queries[:50])
    rng = np.random.default_rng(0)
    saved = (vectors_module.PREFILTER_BELOW, vectors_module.PREFILTER_PER_ROOT)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    rows = []
    try:
        for share in (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5):
            allowed = np.sort(rng.choice(ids, int(share * len(ids)), replace=False))
            vectors_module.PREFILTER_BELOW, vectors_module.PREFILTER_PER_ROOT = saved
            row: dict[str, Any] = {"share": share, "allowed": len(allowed),
                                   "selfsim_uses": "pre-filter" if index.prefilters(len(allowed)) else "selector"}
            for path, (below, per_root) in {"pre-filter": (10**12, 0.0), "selector": (-1, -1.0)}.items():
                vectors_module.PREFILTER_BELOW, vectors_module.PREFILTER_PER_ROOT = below, per_root
                index.search(vectors[0], 20, allowed)
                started = time.perf_counter()
                for vector in vectors:
                    index.search(vector, 20, allowed)
                row[f"{path}_ms"] = round((time.perf_counter() - started) / len(vectors) * 1000, 3)
            rows.append(row)
            print(f"filter inside the index, {share:6.1%} allowed ({len(allowed):6,}): pre-filter "
                  f"{row['pre-filter_ms']:6.2f} ms, selector {row['selector_ms']:6.2f} ms -> {row['selfsim_uses']}")
    finally:
        vectors_module.PREFILTER_BELOW, vectors_module.PREFILTER_PER_ROOT = saved
        faiss.omp_set_num_threads(threads)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", type=Path, default=Path("/tmp/selfsim-latency-100k"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", default="Flat", help="FAISS spec to measure (the index is rebuilt if needed)")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: say how busy it was

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
        collection.search(query, k=10, filter={"bucket": 1})

    results: dict[str, Any] = {}

    def show(name: str, result: dict[str, float]) -> None:
        results[name] = result
        print(f"{name:34s} p50 {result['p50']:7.2f} ms  p95 {result['p95']:7.2f} ms  p99 {result['p99']:7.2f} ms  "
              f"({result.get('mean_hits', '-')} hits)", flush=True)

    for mode in ("dense", "keyword", "hybrid"):
        show(mode, timed(collection, queries, mode))
    ratios: dict[str, dict[str, float]] = {}
    for name, (share, filter_for) in FILTERS.items():
        allowed = len(collection.store.chunk_ids_matching(filter_for(0)))
        path = "pre-filter" if collection.store.index.prefilters(allowed) else "selector"
        for mode in ("hybrid", "dense"):
            for state in STATES:
                run = f"{mode}, {name} filter, {state}"
                show(run, {**timed(collection, queries, mode, filter_for, state), "share": share,
                           "allowed": allowed, "index_path": path})
                ratios[run] = {p: round(results[run][p] / results[mode][p], 2) for p in ("p50", "p99")}
    encode = []
    for query in queries:
        started = time.perf_counter()
        collection.encoder.encode([query])
        encode.append((time.perf_counter() - started) * 1000)
    show("query encoding alone", percentiles(encode))
    paths = filter_paths(collection, queries)

    p99 = results["hybrid"]["p99"]
    by_state = {state: all(max(r.values()) <= TARGET_FILTER_RATIO for run, r in ratios.items() if run.endswith(state))
                for state in STATES}
    share = round(results["query encoding alone"]["p50"] / results["hybrid"]["p50"], 2)
    print(f"hybrid p99 {p99} ms (target < {TARGET_P99_HYBRID_MS} ms); query encoding is {share:.0%} of hybrid p50")
    for run, ratio in ratios.items():
        mark = "ok" if max(ratio.values()) <= TARGET_FILTER_RATIO else "over"
        print(f"  {run:34s} filtered / unfiltered: p50 {ratio['p50']:.2f}x  p99 {ratio['p99']:.2f}x  {mark}")
    print("filters within 2x of unfiltered, by state: " + ", ".join(f"{k}: {'yes' if v else 'no'}"
                                                                  for k, v in by_state.items()))
    write_result(f"search_latency_{args.index.replace(',', '_')}", {
        "data": f"{SIZE:,} short texts from {args.data} (see docstring)", "items": info["items"],
        "chunks": info["chunks"], "index": info["index_in_use"], "backend": info.get("backend"),
        "queries": len(queries), "k": 10,
        "latency_ms": results, "encoding_share_of_hybrid_p50": share,
        "filtered_over_unfiltered": ratios, "filter_paths_one_thread": paths,
        "target_p99_hybrid_ms": TARGET_P99_HYBRID_MS, "target_filter_ratio": TARGET_FILTER_RATIO,
        "meets_target": p99 < TARGET_P99_HYBRID_MS, "filters_meet_target_by_state": by_state,
        "load_average_1_5_15_min": {"start": load_before, "end": [round(x, 2) for x in os.getloadavg()]}})
    collection.close()


if __name__ == "__main__":
    main()
