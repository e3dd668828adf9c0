"""Sequential recommendation on Amazon Beauty: the self-attention model, its ablation and two baselines.

Data: ../shared/data/seqrec/beauty.txt (22,363 users, 12,101 items, 198,502 interactions; the S3-Rec /
CL4SRec / ICLRec preprocessing). Protocol: leave-one-out per user (last item test, second-to-last
validation, the rest training); every target ranked against ALL 12,101 items, items already in the
history excluded; a target tied with other items counted at its expected place (HR/NDCG expected over
tie orders); HR@5/10/20 and NDCG@5/10/20 on the test split. Model selection (early stopping, best epoch,
blend weight) uses validation NDCG@10 only. Every table a figure uses (popularity, the co-occurrence of
the kNN baseline and of the blend) is fitted on the training histories only, as the sequence model is
trained; the blend with its table refitted on training + validation histories is kept as a labelled
extra row (``<variant>+blend (table refit on train+validation)``), never the headline. A result file
written under another protocol has its runs moved to ``earlier_runs``, labelled with that protocol.

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
       [--save-models DIR]
       python benchmarks/recommend_beauty.py [DATA_DIR] --table-study DIR [--seeds 0,1,2] [--name ...]
           (the main models saved by --save-models; the co-occurrence table's form for the blend chosen per
           seed on validation NDCG@10 from TABLE_FORMS, tables fitted on training histories only, then the
           chosen form scored once on test; added to the result file under ``table_study``)
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
from selfsim.encoders.sequence import SequenceConfig, SequenceModel
from selfsim.evaluation.recommend import PROTOCOL, REFIT_FIELD, baseline_scores, blended_test, train_and_score
from selfsim.tasks.recommend.blend import BlendChoice, BlendConfig, choose_blend_weight
from selfsim.training.sequence import SequenceTrainingConfig, model_scores

METRICS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")
# Anchors measured on this kind of machine (issue #6), test split, full ranking.
ANCHORS = {"ICLRec released checkpoint": {"hr@10": 0.0744, "ndcg@10": 0.0403},
           "plain SASRec, CE, 26 epochs (53 min)": {"hr@10": 0.0820, "ndcg@10": 0.0479}}
TARGETS = {"ndcg@10": 0.055, "hr@10": 0.095, "train_minutes": 45}
REFIT_ROW = "+blend (table refit on train+validation)"  # the labelled extra row's suffix, never a headline
STUDY_ROW = "main+blend (table form chosen on validation)"
# Forms of the blend's co-occurrence table tried by --table-study (the first is the default): how much an
# item's link to what preceded it counts against its link to what followed, and how far back the history
# is read.
TABLE_FORMS = {"default (symmetric, last 5 items, decay 0.7)": {},
               "followers x1, precedents x0.5": {"backward": 0.5},
               "symmetric, last 3 items, decay 0.5": {"recent": 3, "decay": 0.5},
               "followers x1, precedents x0.5, last 3 items, decay 0.5": {"backward": 0.5, "recent": 3,
                                                                           "decay": 0.5}}


def variants(base: SequenceTrainingConfig) -> dict[str, SequenceTrainingConfig]:
    """The training configurations compared; ``main`` is the proposed model."""
    return {
        "main": base,
        "no_contrastive": replace(base, contrastive_weight=0.0),
        "masked_item": replace(base, objective="masked_item", contrastive_weight=0.0),
    }


def summarise(runs: list[dict[str, Any]], blended: bool = False, field: str = "test") -> dict[str, Any]:
    """Mean and sample standard deviation of the test metrics (of the blend's ``field``, if asked) and times
    over seeds."""
    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs]}
    if blended:
        out["blend_weights"] = [r["blend"]["weight"] for r in runs]
    for metric in METRICS:
        values = np.array([(r["blend"][field] if blended else r["test"])[metric] for r in runs])
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
    parser.add_argument("--save-models", type=Path, default=None,
                        help="save each trained model under DIR/<variant>-seed<N> (to study it on validation later)")
    parser.add_argument("--table-study", type=Path, default=None,
                        help="choose the blend table's form on validation for the main models saved in DIR")
    args = parser.parse_args()
    limit_threads(args.threads)
    torch.set_num_threads(args.threads)

    path = args.data / "seqrec" / "beauty.txt"
    started = time.perf_counter()
    log = read_log(path)
    split = leave_one_out(log)
    if args.table_study is not None:
        table_study(split, args.table_study, [int(s) for s in args.seeds.split(",")], args.name, args.merge)
        return
    base = SequenceTrainingConfig(epochs=args.epochs, patience=args.patience, eval_start=args.eval_start,
                                  contrastive_weight=args.contrastive_weight,
                                  time_budget_s=args.budget_minutes * 60, threads=args.threads)
    shape = SequenceConfig(n_items=log.n_items, dim=args.dim, dropout=args.dropout)
    previous = json.loads((RESULTS / f"{args.name}.json").read_text()) if args.resume and (
        RESULTS / f"{args.name}.json").is_file() else {}
    protocol = PROTOCOL + "; early stopping and model selection on validation NDCG@10"
    earlier = previous.get("earlier_runs", {})
    if previous and previous.get("protocol") != protocol:
        previous = retire(previous, earlier)
    baselines = previous.get("baselines") or {
        **{name: {"test": scores} for name, scores in baseline_scores(split).items()},
        **{f"{name} (refit on train+validation)": {"test": scores}
           for name, scores in baseline_scores(split, fit_on="train+validation").items()}}
    report: dict[str, Any] = {
        "data": str(path), "users": len(log.users), "items": log.n_items, "interactions": log.n_interactions,
        "mean_length": round(log.n_interactions / len(log.users), 2), "protocol": protocol,
        "model": asdict(shape), "training": {name: json_ready(asdict(c)) for name, c in variants(base).items()},
        "anchors": ANCHORS, "targets": TARGETS, "baselines": baselines,
        "runs": previous.get("runs", {}), "earlier_runs": earlier, "summary": {}}
    for part in args.merge:
        merged = json.loads(part.read_text())
        if merged.get("protocol") != protocol:
            raise SystemExit(f"{part} was written under another protocol; rerun it or leave it out of --merge.")
        for name, records in merged["runs"].items():
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

            model, run = train_and_score(split, shape, config, progress=progress, blend_config=BlendConfig(),
                                         refit_extra=True)
            if args.save_models is not None:
                model.save(args.save_models / f"{name}-seed{seed}")
            record = {"seed": seed, "model": asdict(shape), "training": json_ready(asdict(config)), **run.to_dict(),
                      "curve": run.history}
            report["runs"].setdefault(name, []).append(record)
            print(f"{name} seed {seed}: test {record['test']}; blended (weight {record['blend']['weight']}) "
                  f"{record['blend']['test']}; table refit on train+validation {record['blend'][REFIT_FIELD]}",
                  flush=True)
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
        refit = [r for r in blended if REFIT_FIELD in r["blend"]]
        if refit:
            out[name + REFIT_ROW] = summarise(refit, blended=True, field=REFIT_FIELD)
    return out


def table_study(split: Any, models: Path, seeds: list[int], name: str, merge: list[Path]) -> None:
    """Per seed: every form in TABLE_FORMS gets its blend weight and validation NDCG@10 (table fitted on
    training histories); the best form (ties to the default) is scored once on test. Adds ``table_study``
    and its summary row to the result file ``name`` (made if missing), with the seeds studied in ``merge``."""
    file = RESULTS / f"{name}.json"
    report = json.loads(file.read_text()) if file.is_file() else {"summary": {}}
    study: dict[str, Any] = report.get("table_study", {}).get("runs", {})
    for part in merge:
        study.update(json.loads(part.read_text()).get("table_study", {}).get("runs", {}))
    about = {"protocol": "form and weight chosen on validation NDCG@10 (tables fitted on training histories); "
                         "the chosen form scored once on test", "forms": TABLE_FORMS}
    for seed in seeds:
        if str(seed) in study:
            continue
        model, _ = SequenceModel.load(models / f"main-seed{seed}")
        score = model_scores(model.eval())
        tried: dict[str, dict[str, Any]] = {}
        for form, settings in TABLE_FORMS.items():
            choice = choose_blend_weight(score, split, BlendConfig(**settings))
            tried[form] = {"weight": choice.weight, "validation_ndcg@10": round(choice.validation[choice.weight], 5)}
            print(f"seed {seed} {form}: weight {choice.weight} validation ndcg@10 "
                  f"{choice.validation[choice.weight]:.5f}", flush=True)
        best = max(tried, key=lambda form: (tried[form]["validation_ndcg@10"], form == next(iter(TABLE_FORMS))))
        config = BlendConfig(**TABLE_FORMS[best])
        chosen = BlendChoice(tried[best]["weight"], {})
        test = blended_test(score, split, chosen, config)["test"]
        study[str(seed)] = {"seed": seed, "tried": tried, "chosen": best, "weight": chosen.weight, "test": test}
        print(f"seed {seed}: chose {best!r} (weight {chosen.weight}); test {test}", flush=True)
        report["table_study"] = {**about, "runs": study}
        write_result(name, {k: v for k, v in report.items() if k not in ("benchmark", "date", "machine")})
    report["table_study"] = {**about, "runs": study}
    records = [{**r, "blend": {"test": r["test"], "weight": r["weight"]}, "train_seconds": 0.0,
                "seconds_per_epoch": 0.0, "best_epoch": 0} for r in study.values()]
    row = {k: v for k, v in summarise(records, blended=True).items()
           if k not in ("train_minutes", "seconds_per_epoch", "best_epochs")}
    report["table_study"]["summary"] = {**row, "chosen": [r["chosen"] for r in study.values()]}
    report["summary"][STUDY_ROW] = report["table_study"]["summary"]
    write_result(name, {k: v for k, v in report.items() if k not in ("benchmark", "date", "machine")})


def retire(previous: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """Move a result file's runs, baselines and summary written under an older protocol into ``earlier``,
    labelled with that protocol, so none of its figures reads as one of the current protocol."""
    label = (f"runs of {previous.get('date', 'an earlier date')[:10]} under the earlier protocol: "
             "blend and co-occurrence kNN tables refit on training + validation histories for the test "
             "figure; ties counted against the target")
    earlier[label] = {"protocol": previous.get("protocol", "") + "; test tables fitted on train+validation "
                      "histories; ties counted against the target (pessimistic rank)",
                      **{key: previous[key] for key in ("baselines", "runs", "summary", "contrastive_effect",
                                                        "next_vs_masked", "blend_effect") if key in previous}}
    return {}


if __name__ == "__main__":
    main()
