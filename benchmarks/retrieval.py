"""SciFact retrieval: nDCG@10, Recall@100 and MRR@10 of dense, keyword and hybrid search.

The numbers come from ``selfsim eval retrieval`` with the defaults a user gets.
Split: SciFact train queries (809 with judgements) over the full 5,183-document
corpus, document text = title + " " + text (BEIR protocol).

Usage: python benchmarks/retrieval.py [DATA_DIR] [--encoder NAME_OR_DIR] [--backend onnx-int8] [--name SUFFIX]

The JSON goes to benchmarks/results/retrieval.json, or retrieval_SUFFIX.json with ``--name``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_DATA, write_result

# Measured for reference on this kind of machine (issue #2) and the targets set there.
REFERENCE = {"dense": 0.660, "keyword (bm25s)": 0.667, "keyword (FTS5 OR)": 0.699, "hybrid (RRF k=60)": 0.710,
             "hybrid (RRF k=10)": 0.717}
TARGETS = {"dense": 0.66, "keyword": 0.69, "hybrid": 0.72}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--backend", default="onnx-int8", help="torch, onnx (fp32) or onnx-int8")
    parser.add_argument("--name", default="", help="a suffix for the result file (default: retrieval.json)")
    args = parser.parse_args()
    scifact = args.data / "scifact"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="selfsim-scifact-") as scratch:
        command = [sys.executable, "-m", "selfsim.cli.main", "eval", "retrieval",
                   "--corpus", str(scifact / "corpus.jsonl"), "--queries", str(scifact / "queries.train.jsonl"),
                   "--qrels", str(scifact / "qrels" / "train.tsv"),
                   "--encoder", args.encoder, "--backend", args.backend,
                   "--collection", str(Path(scratch) / "scifact"), "--json"]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output)
    scores = result["scores"]
    print(f"SciFact train queries ({scores['dense']['queries']}), {result['documents']} documents, "
          f"{result['chunks']} chunks, encoder {result['encoder']} ({args.backend})")
    for mode, values in scores.items():
        target = TARGETS.get(mode)
        verdict = "" if target is None else ("meets" if values["ndcg@10"] >= target else "BELOW") + f" {target}"
        print(f"  {mode:8s} nDCG@10 {values['ndcg@10']:.4f}  Recall@100 {values['recall@100']:.4f}  "
              f"MRR@10 {values['mrr@10']:.4f}  {verdict}")
    write_result("retrieval" + (f"_{args.name}" if args.name else ""), {
        "data": str(scifact), "split": "SciFact train queries, full corpus", "backend": args.backend,
        "result": result,
        "targets_ndcg@10": TARGETS, "reference_ndcg@10": REFERENCE,
        "meets_targets": {m: scores[m]["ndcg@10"] >= t for m, t in TARGETS.items() if m in scores},
        "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
