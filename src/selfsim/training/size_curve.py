"""A learning curve against training-set size: the same recipe on growing subsets, scored on one held-out set.

For supervised objectives: nested, seeded subsets of the training rows (each
size's rows include the smaller sizes' rows), each trained with the same
settings from the same base model and validated on the same set; the best
validation value per size is plotted against the size (log scale). It shows
whether more labels would still help.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.training.text import TextTrainConfig, Validator, train_text_encoder


def size_curve(base: str | Path, data: Sequence[Example], output_dir: str | Path, config: TextTrainConfig,
               validator: Validator, sizes: Sequence[int], *, data_kind: str,
               data_description: str = "") -> dict[str, Any]:
    """Train on each size in ``sizes`` (clipped to the data); write ``size_curve.json``/``.png``; return them."""
    wanted = sorted({min(int(s), len(data)) for s in sizes})
    if not wanted or wanted[0] < 2:
        raise ConfigError("give training-set sizes of at least 2, e.g. --curve-sizes 500,1000,2000.")
    output_dir = Path(output_dir)
    order = np.random.default_rng(config.seed).permutation(len(data))
    points = []
    for size in wanted:
        subset = [data[i] for i in order[:size]]
        report = train_text_encoder(base, subset, output_dir / f"size-{size}", config, data_kind=data_kind,
                                    validator=validator, data_description=f"{size} rows of {data_description}")
        points.append({"size": size, "best_metrics": report.best_metrics, "initial_metrics": report.initial_metrics,
                       "steps": report.steps, "train_seconds": round(report.train_seconds, 1),
                       "examples_per_second": round(report.examples_per_second, 2)})
    result = {"objective": config.objective, "data": data_description, "points": points,
              "plot": str(output_dir / "size_curve.png")}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "size_curve.json").write_text(json.dumps(result, indent=1))
    _plot(points, output_dir / "size_curve.png", config.objective)
    return result


def _plot(points: list[dict[str, Any]], path: Path, objective: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = next(iter(points[0]["best_metrics"]), None)
    figure, axis = plt.subplots(figsize=(6, 4))
    if metric is not None:
        axis.plot([p["size"] for p in points], [p["best_metrics"][metric] for p in points], marker="o",
                  label=f"best validation {metric}")
        axis.axhline(points[0]["initial_metrics"].get(metric, float("nan")), color="grey", linestyle="--",
                     label="before training")
        axis.set_ylabel(metric)
    axis.set_xscale("log")
    axis.set_xlabel("training examples")
    axis.set_title(f"learning curve over training-set size ({objective})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
