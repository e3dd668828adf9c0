"""Sequential recommendation on Amazon Beauty: the self-attention model, its ablation and two baselines.

Data: ../shared/data/seqrec/beauty.txt (22,363 users, 12,101 items, 198,502 interactions; the S3-Rec /
CL4SRec / ICLRec preprocessing). Protocol: leave-one-out per user (last item test, second-to-last
validation, the rest training); every target ranked against ALL 12,101 items, items already in the
history excluded; HR@5/10/20 and NDCG@5/10/20 on the test split. Model selection (early stopping,
best epoch) uses validation NDCG@10 only.

Variants, each trained with seeds 0..2 (the result file is rewritten after every run, so a partial
run keeps what finished):
- ``main``: next-item (full softmax) + the contrastive auxiliary loss (CL4SRec-style views, InfoNCE);
- ``no_contrastive``: the same without the auxiliary loss;
- ``masked_item``: the bidirectional masked-item objective (BERT4Rec-style) instead of next-item;
plus most-popular and item-to-item co-occurrence kNN on the same split. Every trained model is
also scored blended with co-occurrence (selfsim's default recommender: the mixture weight chosen on
validation NDCG@10, see selfsim.tasks.recommend.blend); summaries give both, the model alone under
the variant's name and the blend under ``<variant>+blend``. Each run records the exact configuration
it ran with.

The model is small (64 dims), so one PyTorch thread trains it as fast as two: on a 2-core machine, two
processes with ``--threads 1`` and their own ``--name``, each given some of the runs, take half the time;
``--merge`` then gathers their result files into one report (and trains whatever is still missing).

Usage: python benchmarks/recommend_beauty.py [DATA_DIR] [--variants main,no_contrastive,masked_item:0]
       [--seeds 0,1,2] [--epochs 30] [--budget-minutes 44] [--resume] [--merge PART.json ...]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import DEFAULT_DATA, RESULTS, json_ready, limit_threads, write_result

from selfsim.data.interactions import leave_one_out, read_log
from selfsim.encoders.sequence import SequenceConfig
from selfsim.evaluation.recommend import baseline_scores, train_and_score
from selfsim.tasks.recommend.blend import BlendConfig
from selfsim.training.sequence import SequenceTrainingConfig

METRICS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")
# Anchors measured on this kind of machine (issue #6), test split, full ranking.
ANCHORS = {"ICLRec released checkpoint": {"hr@10": 0.0744, "ndcg@10": 0.0403},
           "plain SASRec, CE, 26 epochs (53 min)": {"hr@10": 0.0820, "ndcg@10": 0.0479}}
TARGETS = {"ndcg@10": 0.055, "hr@10": 0.095, "train_minutes": 45}


def variants(base: SequenceTrainingConfig) -> dict[str, SequenceTrainingConfig]:
    """The training configurations compared; ``main`` is the proposed model."""
    return {
        "main": base,
        "no_contrastive": replace(base, contrastive_weight=0.0),
        "masked_item": replace(base, objective="masked_item", contrastive_weight=0.0),
    }


def summarise(runs: list[dict[str, Any]], blended: bool = False) -> dict[str, Any]:
    """Mean and sample standard deviation of the test metrics (of the blend, if asked) and times over seeds."""
    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs]}
    if blended:
        out["blend_weights"] = [r["blend"]["weight"] for r in runs]
    for metric in METRICS:
        values = np.array([(r["blend"]["test"] if blended else r["test"])[metric] for r in runs])
        out[metric] = {"mean": round(float(values.mean()), 5),
                       "std": round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 5),
                       "min": round(float(values.min()), 5), "max": round(float(values.max()), 5)}
    out["train_minutes"] = {"mean": round(float(np.mean([r["train_seconds"] for r in runs])) / 60, 1),
                            "max": round(float(np.max([r["train_seconds"] for r in runs])) / 60, 1)}
    out["seconds_per_epoch"] = round(float(np.mean([r["seconds_per_epoch"] for r in runs])), 2)
    out["best_epochs"] = [r["best_epoch"] for r in runs]
    return out


def compare(a: dict[str, Any], b: dict[str, Any], metric: str = "ndcg@10") -> dict[str, Any]:
    """Difference of means between two variants and whether it exceeds the seeds' spread (2 x pooled std)."""
    difference = a[metric]["mean"] - b[metric]["mean"]
    spread = float(np.sqrt((a[metric]["std"] ** 2 + b[metric]["std"] ** 2) / 2))
    return {"metric": metric, "difference": round(difference, 4), "pooled_std": round(spread, 4),
            "beyond_spread": bool(abs(difference) > 2 * spread)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", default="main,no_contrastive,masked_item")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget-minutes", type=float, default=44.0,
                        help="training-time cap per run (a safety net under the 45-minute target)")
    parser.add_argument("--epochs", type=int, default=30, help="the learning rate decays linearly to 0 over these")
    parser.add_argument("--patience", type=int, default=SequenceTrainingConfig.patience)
    parser.add_argument("--eval-start", type=int, default=8, help="first epoch validated (then every epoch)")
    parser.add_argument("--contrastive-weight", type=float, default=0.1)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="recommend_beauty")
    parser.add_argument("--resume", action="store_true", help="keep runs already in the result file")
    parser.add_argument("--merge", type=Path, nargs="*", default=[],
                        help="result files of runs made by other processes; their runs join this report")
    args = parser.parse_args()
    limit_threads(args.threads)
    torch.set_num_threads(args.threads)

    path = args.data / "seqrec" / "beauty.txt"
    started = time.perf_counter()
    log = read_log(path)
    split = leave_one_out(log)
    base = SequenceTrainingConfig(epochs=args.epochs, patience=args.patience, eval_start=args.eval_start,
                                  contrastive_weight=args.contrastive_weight,
                                  time_budget_s=args.budget_minutes * 60, threads=args.threads)
    shape = SequenceConfig(n_items=log.n_items, dim=args.dim, dropout=args.dropout)
    previous = json.loads((RESULTS / f"{args.name}.json").read_text()) if args.resume and (
        RESULTS / f"{args.name}.json").is_file() else {}
    report: dict[str, Any] = {
        "data": str(path), "users": len(log.users), "items": log.n_items, "interactions": log.n_interactions,
        "mean_length": round(log.n_interactions / len(log.users), 2),
        "protocol": "leave-one-out; test = last item, validation = second-to-last; full ranking against all "
                    "items; history items excluded; early stopping and model selection on validation NDCG@10",
        "model": asdict(shape), "training": {name: json_ready(asdict(c)) for name, c in variants(base).items()},
        "anchors": ANCHORS, "targets": TARGETS,
        "baselines": previous.get("baselines") or {name: {"test": scores}
                                                   for name, scores in baseline_scores(split).items()},
        "runs": previous.get("runs", {}), "earlier_runs": previous.get("earlier_runs", {}), "summary": {}}
    for part in args.merge:
        for name, records in json.loads(part.read_text())["runs"].items():
            mine = report["runs"].setdefault(name, [])
            mine.extend(r for r in records if all(r["seed"] != m["seed"] for m in mine))
    write_result(args.name, {**report, "partial": True})
    chosen = variants(base)
    for token in args.variants.split(","):
        name, _, own_seeds = token.partition(":")  # "masked_item:0" runs that variant with seed 0 only
        for seed in (int(s) for s in (own_seeds.split("/") if own_seeds else args.seeds.split(","))):
            done = [r for r in report["runs"].get(name, []) if r["seed"] == seed]
            if done:
                continue
            config = replace(chosen[name], seed=seed)

            def progress(row: dict[str, Any], name: str = name, seed: int = seed) -> None:
                print(f"{name} seed {seed} epoch {row['epoch']}: loss {row['loss']:.3f} "
                      f"valid ndcg@10 {row['valid_ndcg@10']:.4f} hr@10 {row['valid_hr@10']:.4f} "
                      f"({row['seconds']:.1f} s + eval {row['eval_seconds']:.1f} s) best {row['best_epoch']}",
                      flush=True)

            _, run = train_and_score(split, shape, config, progress=progress, blend_config=BlendConfig())
            record = {"seed": seed, "model": asdict(shape), "training": json_ready(asdict(config)), **run.to_dict(),
                      "curve": run.history}
            report["runs"].setdefault(name, []).append(record)
            print(f"{name} seed {seed}: test {record['test']}; blended (weight {record['blend']['weight']}) "
                  f"{record['blend']['test']}", flush=True)
            write_result(args.name, {**report, "summary": summaries(report["runs"]), "partial": True})
    report["summary"] = summary = summaries(report["runs"])
    if "main" in summary and "no_contrastive" in summary:
        report["contrastive_effect"] = compare(summary["main"], summary["no_contrastive"])
    if "main" in summary and "masked_item" in summary:
        report["next_vs_masked"] = compare(summary["main"], summary["masked_item"])
    if "main+blend" in summary:
        report["blend_effect"] = compare(summary["main+blend"], summary["main"])
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    write_result(args.name, report)


def summaries(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per variant: the model alone, and (over the runs that have one) the blend with co-occurrence."""
    out: dict[str, Any] = {}
    for name, records in runs.items():
        out[name] = summarise(records)
        blended = [r for r in records if "blend" in r]
        if blended:
            out[f"{name}+blend"] = summarise(blended, blended=True)
    return out


if __name__ == "__main__":
    main()
