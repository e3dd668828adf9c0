"""How duplicate detection scales: time and memory for 10k, 100k and 1M synthetic 384-d vectors.

The vectors imitate sentence embeddings: 2,000 topic centres, items spread around them (two items
of one topic have cosine ~0.5), and 1% of the items planted as near-copies of another item (cosine
~0.95) plus 0.5% exact text copies. Duplicates are searched at cosine >= 0.9 with the default
:class:`selfsim.tasks.duplicates.finder.DuplicatesConfig` (exact + semantic; ``auto`` index: exact Flat
below 20k items, IVF with ~4*sqrt(N) lists and 32 probes above). Each size runs in its own process,
so its peak resident memory is its own. Recall is of the planted pairs; at 10k the pairs are also
checked against brute force (all items below 20k; the pairs of 2,000 random items above).

With ``--store``, 100k items are also written into a real collection (SQLite) first and
``find_duplicates`` runs on it end to end: reading the stored vectors and texts included.

    python benchmarks/duplicates_scale.py [--sizes 10000 100000 1000000] [--store]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import limit_threads, write_result  # noqa: E402

DIM = 384
THRESHOLD = 0.9


def synthetic(count: int, seed: int = 0) -> tuple[np.ndarray, list[str], set[tuple[int, int]]]:
    """Unit vectors around topic centres, texts, and the planted duplicate pairs (i < j)."""
    rng = np.random.default_rng(seed)
    topics = min(2000, max(count // 50, 1))
    centres = rng.standard_normal((topics, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.empty((count, DIM), dtype=np.float32)
    step = 100_000
    for first in range(0, count, step):  # in slices, so the noise never needs a second N x D array
        rows = min(step, count - first)
        vectors[first:first + rows] = centres[rng.integers(0, topics, rows)]
        vectors[first:first + rows] += rng.standard_normal((rows, DIM), dtype=np.float32) / np.sqrt(DIM)
    texts = [f"synthetic item {i} about topic {i % topics}" for i in range(count)]
    planted: set[tuple[int, int]] = set()
    copies = rng.choice(count, size=count // 100 + count // 200, replace=False)
    near, exact = copies[: count // 100], copies[count // 100:]
    sources = rng.integers(0, count, size=len(copies))
    for target, source in zip(near.tolist(), sources[: len(near)].tolist(), strict=True):
        if target != source:
            vectors[target] = vectors[source] / np.linalg.norm(vectors[source]) + \
                rng.standard_normal(DIM).astype(np.float32) * (0.33 / np.sqrt(DIM))
            planted.add((min(target, source), max(target, source)))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for target, source in zip(exact.tolist(), sources[len(near):].tolist(), strict=True):
        if target != source:
            vectors[target] = vectors[source]
            texts[target] = texts[source].upper()  # same text after normalisation
            planted.add((min(target, source), max(target, source)))
    return vectors, texts, planted


def run_size(count: int) -> dict:
    """Generate, then time the finder; runs inside a child process."""
    from selfsim.tasks.duplicates.finder import DuplicateFinder, DuplicatesConfig

    vectors, texts, planted = synthetic(count)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    finder = DuplicateFinder(DuplicatesConfig(threshold=THRESHOLD)).fit([str(i) for i in range(count)], vectors, texts)
    seconds = time.perf_counter() - started
    found = {(min(int(p.left), int(p.right)), max(int(p.left), int(p.right))) for p in finder.pairs_}
    # Chained copies (a copy of a copy) make pairs beyond the planted ones; recall is what matters here.
    recall = len(found & planted) / len(planted)
    result = {"items": count, "seconds": round(seconds, 2), "stage_seconds": {k: round(v, 2) for k, v in
                                                                               finder.seconds_.items()},
              "pairs": finder.counts_, "groups": len(finder.groups_), "planted_pairs": len(planted),
              "planted_recall": round(recall, 4),
              "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "rss_before_search_mib": round(before / 1024, 1),
              "vectors_mib": round(vectors.nbytes / 2**20, 1)}
    # Recall against exact search: every pair at or above the threshold that involves one of
    # 2,000 random items (all items below 20k), found by brute force in slices.
    probes = np.arange(count) if count <= 20_000 else np.random.default_rng(1).choice(count, 2000, replace=False)
    truth: set[tuple[int, int]] = set()
    for first in range(0, len(probes), 500):
        rows = probes[first:first + 500]
        hits = np.nonzero(vectors[rows] @ vectors.T >= THRESHOLD)
        truth.update((min(int(rows[a]), int(b)), max(int(rows[a]), int(b))) for a, b in zip(*hits, strict=True)
                     if rows[a] != b)
    result["recall_vs_exact"] = round(len(found & truth) / max(len(truth), 1), 4)
    result["recall_vs_exact_pairs"] = len(truth)
    result["recall_vs_exact_probes"] = len(probes)
    return result


def run_store(count: int) -> dict:
    """Write ``count`` synthetic items into a real collection, then time find_duplicates on it."""
    from selfsim.config import CollectionConfig
    from selfsim.data.chunking import Chunk
    from selfsim.data.records import Record
    from selfsim.store.collection import Store
    from selfsim.store.database import PreparedItem
    from selfsim.tasks.duplicates.collection import find_duplicates
    from selfsim.tasks.duplicates.finder import DuplicatesConfig

    vectors, texts, planted = synthetic(count)
    with tempfile.TemporaryDirectory(prefix="selfsim-dups-") as scratch:
        store = Store.create(Path(scratch) / "c", CollectionConfig(), "synthetic", "1", DIM)
        started = time.perf_counter()
        for first in range(0, count, 5000):
            batch = [PreparedItem(Record(str(i), texts[i], {}), [Chunk(0, 0, len(texts[i]), texts[i])],
                                  vectors[i:i + 1]) for i in range(first, min(first + 5000, count))]
            store.put(batch, replace=False)
        write_seconds = time.perf_counter() - started
        started = time.perf_counter()
        finder = find_duplicates(store, DuplicatesConfig(threshold=THRESHOLD))
        seconds = time.perf_counter() - started
        found = {(min(int(p.left), int(p.right)), max(int(p.left), int(p.right))) for p in finder.pairs_}
        store.close()
    return {"items": count, "seconds_end_to_end": round(seconds, 2), "write_seconds": round(write_seconds, 1),
            "stage_seconds": {k: round(v, 2) for k, v in finder.seconds_.items()}, "groups": len(finder.groups_),
            "planted_recall": round(len(found & planted) / len(planted), 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--store", action="store_true", help="Also run 100k items from a real collection.")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-store", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None,
                        help="Limit FAISS and BLAS to this many threads (default: their own choice).")
    args = parser.parse_args()
    limit_threads(args.threads)
    if args.child is not None:
        print(json.dumps(run_size(args.child)))
        return
    if args.child_store is not None:
        print(json.dumps(run_store(args.child_store)))
        return
    results = []
    for size in args.sizes:
        output = subprocess.run([sys.executable, __file__, "--child", str(size)], check=True, capture_output=True,
                                text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        print(f"{size:>9,} items: {result['seconds']:7.2f} s  peak RSS {result['peak_rss_mib']:8.1f} MiB  "
              f"(vectors {result['vectors_mib']} MiB)  stages {result['stage_seconds']}  pairs {result['pairs']}  "
              f"planted recall {result['planted_recall']}"
              + f"  recall vs exact {result['recall_vs_exact']} ({result['recall_vs_exact_pairs']} pairs)",
              flush=True)
    stored = None
    if args.store:
        output = subprocess.run([sys.executable, __file__, "--child-store", "100000"], check=True,
                                capture_output=True, text=True).stdout
        stored = json.loads(output.strip().splitlines()[-1])
        print(f"  100,000 items from a collection, end to end: {stored['seconds_end_to_end']} s "
              f"(stages {stored['stage_seconds']}; writing them took {stored['write_seconds']} s)")
    hundred = next((r for r in results if r["items"] == 100_000), None)
    write_result("duplicates_scale", {
        "data": "synthetic 384-d unit vectors: 2,000 topic centres, 1% planted near-copies (cos ~0.95), "
                "0.5% exact text copies",
        "settings": {"threshold": THRESHOLD, "config": "DuplicatesConfig defaults (exact + semantic, index auto)"},
        "target": "100k items in under 60 s", "target_met": None if hundred is None else hundred["seconds"] < 60,
        "threads": args.threads or "default", "results": results, "from_collection": stored})


if __name__ == "__main__":
    main()
