"""MovieLens-100k: the sequence recommender with and without item text, and cold-start items.

Data: ../shared/data/ml-100k (943 users, 1,682 movies, 100,000 ratings with timestamps); every rating
is an interaction, ordered by time (ties keep file order). Item text = "Title (year). Genres: ...",
embedded by the collection's encoder (all-MiniLM-L6-v2). The movies and ratings go through a real
collection (``Collection.add`` + ``import_interactions``), as a user would load them.

1. Warm items, standard protocol: leave-one-out per user, full ranking against all items, history
   excluded; HR@10 / NDCG@10 (and @5, @20) on the test split for the ID-only model, the content-aware
   model (item text added to item embeddings), each also blended with co-occurrence (the weight chosen
   on validation), most-popular and co-occurrence kNN. Every table (popularity, co-occurrence) is
   fitted on the training histories only; the blend and kNN with tables refit on training +
   validation histories are kept as labelled extra figures. Ties count at the expected rank.
2. Cold start: 10% of the movies (seeded) are held out of training entirely. Of a seeded 30% of the
   users, each who rated a held-out movie with at least 3 other movies before it is a test case: the
   target is that user's first held-out movie, the input the (warm) movies before it. Training sees
   only warm movies: test users' movies before the target (nothing from their future), every other
   user's whole warm history. Held-out movies are ranked
   with all others; models score them by text alone (their id embeddings were never trained), which
   the ID-only model cannot do. Content-aware models are trained with id dropout p (each step a share p
   of the items are represented by their text alone; p = 1 is a text-only item tower). Baselines:
   most-popular (held-out movies have no count) and a text-only profile (mean text vector of the
   history, cosine to every movie).

Usage: python benchmarks/recommend_ml100k.py [DATA_DIR] [--budget-minutes 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import DEFAULT_DATA, RESULTS, limit_threads, write_result

from selfsim import Collection
from selfsim.data.interactions import InteractionLog, LeaveOneOutSplit, leave_one_out
from selfsim.encoders.sequence import SequenceConfig
from selfsim.evaluation.recommend import PROTOCOL, REFIT_FIELD, baseline_scores, train_and_score
from selfsim.tasks.recommend.baselines import PopularityRecommender
from selfsim.tasks.recommend.blend import BlendConfig
from selfsim.tasks.recommend.collection import text_vectors_for
from selfsim.training.ranking import rank_targets, ranking_metrics
from selfsim.training.sequence import SequenceTrainingConfig, model_scores


def movie_records(folder: Path) -> list[dict[str, Any]]:
    """One text item per movie: title and genres."""
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text(encoding="latin-1").splitlines()
              if line.strip()]
    records = []
    for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        if len(parts) < 6:
            continue
        flags = parts[5:5 + len(genres)]
        names = [g for g, flag in zip(genres, flags, strict=False) if flag == "1" and g != "unknown"]
        records.append({"id": parts[0], "text": f"{parts[1]}. Genres: {', '.join(names) or 'unknown'}."})
    return records


def events_csv(folder: Path, target: Path) -> Path:
    """u.data (tab-separated user item rating timestamp) as an events CSV with a header."""
    with (folder / "u.data").open() as source, target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user", "item", "timestamp", "weight"])
        for line in source:
            user, item, rating, stamp = line.split()
            writer.writerow([user, item, stamp, rating])
    return target


def cold_split(log: InteractionLog, cold: np.ndarray, test_users: np.ndarray, min_history: int = 3
               ) -> tuple[LeaveOneOutSplit, np.ndarray, list[np.ndarray], np.ndarray]:
    """Training data without the ``cold`` items, and the cold-start test cases of ``test_users``.

    A test user who rated a cold item with at least ``min_history`` warm items before it is a test
    case (target: that first cold item; input: the warm items before it) and trains on those warm
    items only, nothing from after the target. Every other user trains on all their warm items. The
    split's validation target is each user's last training item. Returns the split, the test users,
    their inputs and their targets.
    """
    is_cold = np.zeros(log.n_items + 1, dtype=bool)
    is_cold[cold] = True
    testing = set(int(u) for u in test_users)
    train, valid, users, inputs, targets = [], [], [], [], []
    for u, sequence in enumerate(log.sequences):
        hits = np.flatnonzero(is_cold[sequence])
        warm = sequence[~is_cold[sequence]]
        if u in testing and len(hits):
            before = sequence[: hits[0]]
            warm = before[~is_cold[before]]
            if len(warm) >= min_history:
                users.append(u)
                inputs.append(warm)
                targets.append(int(sequence[hits[0]]))
        if len(warm) >= 3:
            train.append(warm[:-1])
            valid.append(int(warm[-1]))
        else:
            train.append(warm)
            valid.append(0)
    valid_targets = np.array(valid, dtype=np.int64)
    split = LeaveOneOutSplit(log, train, valid_targets, valid_targets.copy())
    return split, np.array(users), inputs, np.array(targets, dtype=np.int64)


def text_profile_scores(text: np.ndarray):
    """Cosine between the mean text vector of a history and every item's text vector."""
    unit = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    matrix = torch.from_numpy(unit.astype(np.float32))

    def score(histories):
        profiles = torch.stack([matrix[torch.from_numpy(np.asarray(h, dtype=np.int64))].mean(0) for h in histories])
        scores = profiles @ matrix.T
        scores[:, 0] = float("-inf")
        return scores

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--budget-minutes", type=float, default=3.0, help="training-time cap per model")
    parser.add_argument("--cold-share", type=float, default=0.1)
    parser.add_argument("--test-user-share", type=float, default=0.3)
    parser.add_argument("--id-dropout", type=float, default=0.2,
                        help="content-aware model: share of items trained from text alone each step")
    parser.add_argument("--cold-id-dropouts", default="0.2,0.5,1.0",
                        help="id dropouts of the content-aware models in the cold-start test (1.0 = text only)")
    parser.add_argument("--reuse-warm", action="store_true", help="keep the warm section of the last result file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="recommend_ml100k")
    args = parser.parse_args()
    limit_threads(args.threads)
    torch.set_num_threads(args.threads)
    folder = args.data / "ml-100k"
    started = time.perf_counter()
    report: dict[str, Any] = {"data": str(folder)}
    previous_file = RESULTS / f"{args.name}.json"
    previous = json.loads(previous_file.read_text()) if previous_file.is_file() else {}
    report["earlier_runs"] = previous.get("earlier_runs", {})
    if previous.get("warm", {}).get("protocol", PROTOCOL) != PROTOCOL and "warm" in previous:
        # figures of the earlier protocol stay, labelled, so that none of them reads as a current one
        report["earlier_runs"][f"run of {previous.get('date', '')[:10]} under the earlier protocol: tables "
                               "refit on training + validation histories for the test figure; ties counted "
                               "against the target"] = {key: previous[key] for key in ("warm", "cold_start")
                                                        if key in previous}
    with tempfile.TemporaryDirectory(prefix="selfsim-ml100k-") as scratch:
        tick = time.perf_counter()
        with Collection.create(Path(scratch) / "movies") as movies:
            movies.add(movie_records(folder))
            embed_seconds = time.perf_counter() - tick
            imported = movies.import_interactions([events_csv(folder, Path(scratch) / "ratings.csv")])
            log = movies.interactions.log()
            text = text_vectors_for(movies.store, log.items)
    report.update({"users": len(log.users), "items": log.n_items, "interactions": log.n_interactions,
                   "import_seconds": round(imported.seconds, 1), "embed_seconds": round(embed_seconds, 1),
                   "item_text": "Title (year). Genres: ... embedded with all-MiniLM-L6-v2"})
    shape = SequenceConfig(n_items=log.n_items, max_length=50, dim=64, dropout=0.3)
    training = SequenceTrainingConfig(epochs=300, seed=args.seed, threads=args.threads, patience=8,
                                      time_budget_s=args.budget_minutes * 60)
    report.update({"model": asdict(shape), "training": asdict(training)})

    # 1. warm items, the standard protocol
    if args.reuse_warm and previous.get("warm", {}).get("protocol") == PROTOCOL:
        report["warm"] = previous["warm"]
    else:
        split = leave_one_out(log)
        warm: dict[str, Any] = {name: {"test": scores} for name, scores in baseline_scores(split).items()}
        warm.update({f"{name} (refit on train+validation)": {"test": scores}
                     for name, scores in baseline_scores(split, fit_on="train+validation").items()})
        for name, vectors in (("sequence_ids_only", None), ("sequence_with_text", text)):
            model_shape = shape if vectors is None else replace(shape, id_dropout=args.id_dropout)
            _, run = train_and_score(split, model_shape, training, text_vectors=vectors, progress=_printer(name),
                                     blend_config=BlendConfig(), refit_extra=True)
            warm[name] = {**run.to_dict(), **({"id_dropout": args.id_dropout} if vectors is not None else {})}
            print(name, warm[name]["test"], "blended:", warm[name]["blend"], flush=True)
        report["warm"] = {"protocol": PROTOCOL, "split": "test", "refit_field": REFIT_FIELD, "methods": warm}
    write_result(args.name, {**report, "partial": True})

    # 2. cold start: items held out of training entirely
    rng = np.random.default_rng(args.seed)
    cold = np.sort(rng.choice(np.arange(1, log.n_items + 1), size=int(args.cold_share * log.n_items), replace=False))
    test_users = rng.choice(len(log.users), size=int(args.test_user_share * len(log.users)), replace=False)
    cold_train, users, inputs, targets = cold_split(log, cold, test_users)
    known = np.ones(log.n_items + 1, dtype=bool)
    known[0] = False
    known[cold] = False
    cold_figures: dict[str, Any] = {}
    popular = PopularityRecommender(log.n_items).fit(cold_train.train)
    cold_figures["most_popular"] = _cold_scores(popular.score, inputs, targets)
    cold_figures["text_profile"] = _cold_scores(text_profile_scores(text), inputs, targets)
    cold_variants = [("sequence_ids_only", None, 0.0)] + [
        (f"sequence_with_text_id_dropout_{p:g}", text, p) for p in (float(v) for v in args.cold_id_dropouts.split(","))]
    for name, vectors, id_dropout in cold_variants:
        model_config = replace(training, time_budget_s=args.budget_minutes * 60)
        model_shape = shape if vectors is None else replace(shape, id_dropout=id_dropout)
        model, run = train_and_score(cold_train, model_shape, model_config, text_vectors=vectors, known_items=known,
                                     progress=_printer("cold " + name))
        model.item_known[1:] = True  # held-out items are in the ranking for every method
        cold_figures[name] = {**_cold_scores(model_scores(model), inputs, targets),
                              "best_epoch": run.best_epoch, "train_seconds": round(run.seconds, 1),
                              "valid_warm": run.valid}
        print("cold", name, cold_figures[name], flush=True)
    report["cold_start"] = {
        "held_out_items": int(len(cold)), "test_users": int(len(users)),
        "protocol": f"{args.cold_share:.0%} of movies never trained on; test users ({args.test_user_share:.0%} of "
                    "users, seeded): target = their first held-out movie, input = the >= 3 warm movies before it, "
                    "nothing after it trained on; full ranking against all items (held-out ones included), "
                    "history excluded; ties at the expected rank", "methods": cold_figures}
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    write_result(args.name, report)


def _cold_scores(score, inputs: list[np.ndarray], targets: np.ndarray) -> dict[str, float]:
    ranks = rank_targets(score, inputs, targets)
    return {k: round(v, 4) for k, v in ranking_metrics(ranks).items()}


def _printer(name: str):
    def progress(row: dict[str, Any]) -> None:
        print(f"{name} epoch {row['epoch']}: loss {row['loss']:.3f} valid ndcg@10 {row['valid_ndcg@10']:.4f} "
              f"({row['seconds']:.1f} s) best {row['best_epoch']}", flush=True)

    return progress


if __name__ == "__main__":
    main()
