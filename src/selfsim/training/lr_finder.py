"""The learning-rate range test: raise the rate step by step, watch the loss, suggest a rate.

Smith 2017 ("Cyclical Learning Rates for Training Neural Networks") and the
fastai ``lr_find``: train for ``steps`` batches while the rate grows
geometrically from ``start`` to ``end``, smooth the loss with an exponential
moving average, stop once it exceeds ``diverge`` times its minimum, and
suggest the rate where the smoothed loss falls fastest (against log rate).
Also reported: the rate with the lowest loss (a tenth of it is the other
common rule of thumb). The model is not saved; the plot and the numbers are
written to ``output_dir/lr_find.png`` and ``lr_find.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.training.text import TextTrainConfig, resolve_model_dir


@dataclass(frozen=True)
class LrFinderConfig:
    """Range and length of the test."""

    start: float = 1e-7
    end: float = 1e-2
    steps: int = 100
    smoothing: float = 0.9
    diverge: float = 4.0

    def __post_init__(self) -> None:
        if not 0 < self.start < self.end or self.steps < 5:
            raise ConfigError("the range test needs 0 < start < end and at least 5 steps.")


@dataclass(frozen=True)
class LrFinderResult:
    """Rates tried, raw and smoothed losses, the suggestion, and where the plot went."""

    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested: float
    lowest_loss_rate: float
    plot: Path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"suggested": self.suggested, "lowest_loss_rate": self.lowest_loss_rate, "rates": self.rates,
                "losses": self.losses, "smoothed": self.smoothed, "plot": str(self.plot)}


def suggest_rate(rates: Sequence[float], smoothed: Sequence[float]) -> float:
    """The rate where ``smoothed`` loss falls fastest against log rate (ignoring the noisy first tenth)."""
    if len(rates) < 3:
        return float(rates[0])
    gradient = np.gradient(np.asarray(smoothed), np.log10(np.asarray(rates)))
    skip = max(1, len(rates) // 10)
    return float(rates[skip + int(np.argmin(gradient[skip:]))])


def find_learning_rate(base: str | Path, data: Sequence[Example], output_dir: str | Path,
                       config: TextTrainConfig = TextTrainConfig(), finder: LrFinderConfig = LrFinderConfig(),
                       *, data_kind: str) -> LrFinderResult:
    """Run the range test for ``config.objective`` on ``data``; write ``lr_find.json`` and ``lr_find.png``."""
    import torch
    from sentence_transformers import SentenceTransformer

    from selfsim.objectives.text_objective import build_objective, objective_class
    from selfsim.training.schedules import build_optimizer, clip_gradients

    objective_class(config.objective).check_data(data_kind)
    torch.manual_seed(config.seed)
    model = SentenceTransformer(str(resolve_model_dir(base)), device="cpu", local_files_only=True)
    model.max_seq_length = min(config.max_length, model.max_seq_length or config.max_length)
    objective = build_objective(config.objective, model, dict(config.options))
    optimizer = build_optimizer(objective, config.optimizer)
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    order = np.random.default_rng(config.seed).permutation(len(data))
    ratio = finder.end / finder.start
    rates, losses, smoothed = [], [], []
    average, best = 0.0, math.inf
    objective.train()
    for step in range(finder.steps):
        rate = finder.start * ratio ** (step / (finder.steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = rate
        first = (step * config.batch_size) % max(1, len(data))
        rows = [data[i] for i in np.roll(order, -first)[:config.batch_size]]
        columns = objective.views(rows, np.random.default_rng([config.seed, step, 1]))
        loss = objective([tokenize(c) for c in columns], objective.labels(rows))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(objective, config.optimizer)
        optimizer.step()
        value = float(loss.detach())
        average = finder.smoothing * average + (1 - finder.smoothing) * value
        debiased = average / (1 - finder.smoothing ** (step + 1))
        rates.append(rate)
        losses.append(value)
        smoothed.append(debiased)
        best = min(best, debiased)
        if not math.isfinite(value) or (step > 5 and debiased > finder.diverge * best):
            break
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = LrFinderResult(rates, losses, smoothed, suggest_rate(rates, smoothed),
                            float(rates[int(np.argmin(smoothed))]), output_dir / "lr_find.png")
    (output_dir / "lr_find.json").write_text(json.dumps(result.to_dict(), indent=1))
    _plot(result, config.objective)
    return result


def _plot(result: LrFinderResult, objective: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(result.rates, result.losses, alpha=0.3, label="loss")
    axis.plot(result.rates, result.smoothed, label="smoothed")
    axis.axvline(result.suggested, color="red", linestyle="--", label=f"suggested {result.suggested:.1e}")
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    axis.set_title(f"learning-rate range test ({objective})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(result.plot, dpi=100)
    plt.close(figure)
