"""How hybrid search's nDCG@10 on SciFact depends on the fusion method and its settings.

The default (reciprocal-rank fusion, k=10, equal weights) was not picked from
this table; the table shows how much the choice matters and that the default
is not a lucky point. Dense and keyword top-100 lists are computed once per
query and fused offline with every setting.

Needs a collection holding the SciFact corpus, as left by
``selfsim eval retrieval ... --collection DIR``.

Usage: python benchmarks/fusion_sweep.py --collection DIR [DATA_DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_DATA, write_result

from selfsim import Collection
from selfsim.evaluation.retrieval import read_qrels, read_queries
from selfsim.store.lexical import match_expression
from selfsim.tasks.search.fusion import reciprocal_rank_fusion, weighted_score_fusion
from selfsim.training.ranking import ndcg_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    scifact = args.data / "scifact"
    queries = read_queries(scifact / "queries.train.jsonl")
    qrels = read_qrels(scifact / "qrels" / "train.tsv")
    judged = [q for q in queries if q in qrels]
    with Collection.open(args.collection) as collection:
        vectors = collection.encoder.encode([queries[q] for q in judged])
        dense, keyword = [], []
        for qid, vector in zip(judged, vectors, strict=True):
            dense.append([(key, score) for key, score, _ in collection.store.nearest_items(vector, 100)])
            match = match_expression(queries[qid])
            keyword.append(collection.store.keyword_items(match, 100) if match else [])
        keys = {key for ranked in dense + keyword for key, _ in ranked}
        ids = {key: item.id for key, item in collection.store.items_by_key(list(keys)).items()}

    def mean_ndcg(lists: list) -> float:
        return round(float(np.mean([ndcg_at([ids[key] for key, _ in ranked], qrels[qid], 10)
                                    for qid, ranked in zip(judged, lists, strict=True)])), 4)

    table: dict[str, float] = {"dense": mean_ndcg(dense), "keyword": mean_ndcg(keyword)}
    for k in (1, 5, 10, 20, 60):
        for weight in (0.4, 0.5, 0.6):
            table[f"rrf k={k} dense_weight={weight}"] = mean_ndcg(
                [reciprocal_rank_fusion([a, b], [weight, 1 - weight], k) for a, b in zip(dense, keyword, strict=True)])
    for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
        table[f"weighted dense_weight={weight}"] = mean_ndcg(
            [weighted_score_fusion([a, b], [weight, 1 - weight]) for a, b in zip(dense, keyword, strict=True)])
    for name, value in table.items():
        print(f"{name:32s} nDCG@10 {value:.4f}")
    write_result("fusion_sweep", {"data": str(scifact), "split": "SciFact train queries, full corpus",
                                  "queries": len(judged), "ndcg@10": table,
                                  "default": "rrf k=10 dense_weight=0.5",
                                  "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
