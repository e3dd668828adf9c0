"""AdamW with decoupled weight decay, and a learning rate that warms up then decays.

Loshchilov & Hutter (2019, "Decoupled Weight Decay Regularization") decay the
weights directly instead of adding an L2 term to the gradient; biases,
normalisation gains and other one-dimensional parameters are left undecayed,
as BERT and most transformer recipes do. The schedule rises linearly from 0 to
the peak rate over the warm-up steps, then falls linearly or along a half
cosine to 0 at the last step (Goyal et al. 2017; Loshchilov & Hutter 2017,
SGDR), or stays flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from selfsim.errors import ConfigError

Decay = Literal["linear", "cosine", "constant"]
DECAYS: tuple[str, ...] = ("linear", "cosine", "constant")


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimiser and its schedule: peak rate, decoupled weight decay, warm-up share, decay shape, clipping."""

    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    decay: Decay = "linear"
    max_grad_norm: float | None = 1.0

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ConfigError(f"The learning rate must be positive, not {self.learning_rate}.")
        if self.weight_decay < 0:
            raise ConfigError(f"The weight decay must be zero or more, not {self.weight_decay}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"The warm-up ratio must be in [0, 1), not {self.warmup_ratio}.")
        if self.decay not in DECAYS:
            raise ConfigError(f"Unknown decay {self.decay!r}; use one of {', '.join(DECAYS)}.")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ConfigError(f"The gradient-norm limit must be positive or None, not {self.max_grad_norm}.")


def build_optimizer(model: nn.Module, config: OptimizerConfig = OptimizerConfig()) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters; no weight decay on biases, norms or other 1-d parameters."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or name.endswith(".bias") else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([group for group in groups if group["params"]], lr=config.learning_rate)


def learning_rate_factor(step: int, total_steps: int, warmup_steps: int, decay: Decay) -> float:
    """The multiplier of the peak rate at ``step`` (0-based): linear warm-up, then ``decay`` down to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if decay == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if decay == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int,
                    config: OptimizerConfig = OptimizerConfig()) -> torch.optim.lr_scheduler.LambdaLR:
    """The warm-up-then-decay schedule over ``total_steps`` optimiser steps; call ``.step()`` after each one."""
    if total_steps < 1:
        raise ConfigError(f"Training needs at least one step, not {total_steps}.")
    warmup_steps = int(round(config.warmup_ratio * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, total_steps, warmup_steps, config.decay))


def clip_gradients(model: nn.Module, config: OptimizerConfig) -> float | None:
    """Clips the gradient norm to ``config.max_grad_norm`` when set; returns the norm before clipping."""
    if config.max_grad_norm is None:
        return None
    return float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm))
