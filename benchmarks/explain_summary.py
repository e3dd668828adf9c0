"""Statistics shared by the parts of ``benchmarks/explain.py``: faithfulness shares, agreement, summaries."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from selfsim.tasks.explain.explanation import Explanation

TARGETS = {"speed_8_features_max_seconds": 2.0, "speed_30_features_max_seconds": 10.0,
           "scifact_top3_lowers_more_than_random": 0.90, "beauty_top3_lowers_more_than_random": 0.90}
RANDOM_DRAWS = 10
REMOVED = 3
EXAMPLES = 6


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median, mean and max (and min) of ``values``."""
    if not values:
        return {}
    return {"median": round(statistics.median(values), digits), "mean": round(statistics.fmean(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def errors_of(explanation: Explanation) -> list[float]:
    return [f.standard_error for f in explanation.features if f.standard_error is not None]


def short(text: str, most: int = 90) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def removal_draws(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``RANDOM_DRAWS`` random sets of ``REMOVED`` players out of ``n`` (the first one is "the" random draw)."""
    return [rng.choice(n, size=REMOVED, replace=False) for _ in range(RANDOM_DRAWS)]


def top(values: Sequence[float], k: int = REMOVED) -> np.ndarray:
    """Indices of the ``k`` largest values (ties broken by position, first wins)."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")[:k]


def faithfulness(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Shares of cases where removing the top-3 lowers the score more than random removals, and mean drops."""
    n = len(rows)
    out: dict[str, Any] = {"cases": n}
    for method in ("shapley", "occlusion"):
        drops = np.array([r[f"drop_{method}"] for r in rows])
        one = np.array([r["drop_random"][0] for r in rows])
        mean = np.array([float(np.mean(r["drop_random"])) for r in rows])
        every = np.array([[r[f"drop_{method}"] > d for d in r["drop_random"]] for r in rows], dtype=float)
        share = float(np.mean(drops > one))
        out[method] = {
            "share_lowers_more_than_one_random_draw": round(share, 4),
            "standard_error_of_that_share": round(float(np.sqrt(share * (1 - share) / n)), 4),
            # the expectation of the one-draw share, estimated from all 10 draws of every case
            "share_lowers_more_than_a_random_draw_over_10_draws": round(float(every.mean()), 4),
            "standard_error_over_10_draws": round(float(every.mean(axis=1).std(ddof=1) / np.sqrt(n)), 4),
            "ties_with_one_random_draw": int(np.sum(np.isclose(drops, one, atol=1e-7))),
            "share_lowers_more_than_mean_of_10_draws": round(float(np.mean(drops > mean)), 4),
            "share_lowers_more_than_every_one_of_10_draws": round(float(np.mean(
                [r[f"drop_{method}"] > max(r["drop_random"]) - 1e-9 for r in rows])), 4),
            "mean_drop_top3": round(float(drops.mean()), 5),
        }
    out["mean_drop_random"] = round(float(np.mean([np.mean(r["drop_random"]) for r in rows])), 5)
    shap = np.array([r["drop_shapley"] for r in rows])
    occl = np.array([r["drop_occlusion"] for r in rows])
    same = np.isclose(shap, occl, atol=1e-7)
    out["shapley_vs_occlusion_top3_drop"] = {"shapley_larger": int(np.sum((shap > occl) & ~same)),
                                             "equal": int(np.sum(same)),
                                             "occlusion_larger": int(np.sum((shap < occl) & ~same))}
    out["same_top3_set"] = int(sum(r["same_top3_set"] for r in rows))
    return out


def agreement(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    n = len(rows)
    overall = sum(not r["agree_top_feature"] for r in rows)
    out = {"disagree_top_feature": overall, "disagree_top_feature_share": round(overall / n, 4)}
    if label in rows[0]:
        within = sum(not r[label] for r in rows)
        out[f"disagree_{label.removeprefix('agree_')}"] = within
        out[f"disagree_{label.removeprefix('agree_')}_share"] = round(within / n, 4)
    return out


def summarise_cases(rows: list[dict[str, Any]], head: dict[str, Any], started: float, label: str,
                    part: str) -> dict[str, Any]:
    errors = [r["mean_standard_error"] for r in rows if r["mean_standard_error"] is not None]
    out = {**head, "cases": len(rows), "load_after": load(),
           "item_merged_cases": sum(r.get("item_merged", False) for r in rows),
           "query_merged_cases": sum(r.get("query_merged", False) for r in rows),
           "exact_cases": sum(r["exact"] for r in rows),
           "features": spread([r.get("item_features", 0) + r.get("query_features", 0) + r.get("history", 0)
                                for r in rows], 1),
           "permutations_when_sampled": spread([r["permutations"] for r in rows if not r["exact"]], 1),
           "mean_standard_error_when_sampled": spread(errors, 5),
           "seconds_per_explanation": spread([r["seconds"] for r in rows]),
           "cpu_seconds_per_explanation": spread([r["cpu_seconds"] for r in rows if "cpu_seconds" in r]),
           "max_abs_efficiency_gap": float(max(abs(r["efficiency_gap"]) for r in rows)),
           "max_abs_full_mismatch": float(max(abs(r["full"] - r["full_in_explanation"]) for r in rows)),
           "faithfulness": faithfulness(rows), "agreement": agreement(rows, label),
           "disagreement_examples": [{"query": r.get("query", r.get("user")), "shapley_top": r["top_feature_shapley"],
                                      "occlusion_top": r["top_feature_occlusion"]}
                                     for r in rows if not r["agree_top_feature"]][:EXAMPLES],
           "total_seconds": round(time.perf_counter() - started, 1), "runs": rows}
    share = out["faithfulness"]["shapley"]["share_lowers_more_than_one_random_draw"]
    out["meets_target"] = share >= TARGETS[f"{part}_top3_lowers_more_than_random"]
    print(f"{part}: {len(rows)} cases in {out['total_seconds']} s", flush=True)
    for method in ("shapley", "occlusion"):
        f = out["faithfulness"][method]
        print(f"  {method} top-3 removal lowers the score more than one random draw in "
              f"{f['share_lowers_more_than_one_random_draw']:.1%} of cases "
              f"(SE {f['standard_error_of_that_share']:.1%}, ties {f['ties_with_one_random_draw']}), "
              f"than a random draw over 10 draws in {f['share_lowers_more_than_a_random_draw_over_10_draws']:.1%} "
              f"(SE {f['standard_error_over_10_draws']:.1%}), than the mean of 10 draws in "
              f"{f['share_lowers_more_than_mean_of_10_draws']:.1%}; mean drop {f['mean_drop_top3']:.4f} "
              f"vs random {out['faithfulness']['mean_drop_random']:.4f}", flush=True)
    print(f"  target >= 90%: {'met' if out['meets_target'] else 'MISSED'}; agreement {out['agreement']}", flush=True)
    for example in out["disagreement_examples"]:
        print(f"  disagree: {short(str(example['query']), 70)!r}: shapley {example['shapley_top']} / occlusion "
              f"{example['occlusion_top']}", flush=True)
    return out
