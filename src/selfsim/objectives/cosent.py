"""CoSENT: a ranking loss on scored pairs — a pair with a higher score should have a higher cosine.

Inputs: ``(sentence1, sentence2, score)``. Loss:
``log(1 + sum over (i, j) with s_i > s_j of exp(scale * (cos_j - cos_i)))``,
which only asks the cosines to be ordered like the scores, not to equal them;
sentence-transformers' CoSENTLoss. ``variant="angle"`` swaps cosine for the
angle difference in complex space (AnglELoss), which avoids the flat
gradients of cosine near +-1. ``mse_weight`` adds the cosine-MSE loss of
:mod:`selfsim.objectives.cosine` on the same embeddings. Papers: Su 2022,
"CoSENT" (blog, kexue.fm/archives/8847); Li & Li 2023, "AnglE-optimized Text
Embeddings". Relatives: cosine (regression), pairs (in-batch ranking from
positives only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from selfsim.errors import ConfigError
from selfsim.objectives.cosine import cosine_mse
from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """CoSENT (or AnglE) on scored pairs, plus ``mse_weight`` times the cosine MSE."""

    name = "cosent"
    accepts = ("scored",)
    needs = "scored pairs (sentence1, sentence2, score)"

    def __init__(self, model: nn.Module, scale: float = 20.0, variant: Literal["cosine", "angle"] = "cosine",
                 mse_weight: float = 0.0) -> None:
        super().__init__(model)
        from sentence_transformers.sentence_transformer.losses import AnglELoss, CoSENTLoss

        if variant not in ("cosine", "angle"):
            raise ConfigError(f"unknown CoSENT variant {variant!r}; use 'cosine' or 'angle'.")
        self.loss = (CoSENTLoss if variant == "cosine" else AnglELoss)(model, scale=scale)
        self.mse_weight = mse_weight

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """The ranking loss of the batch (plus the weighted MSE)."""
        embeddings = self.embed(features)
        loss = self.loss.compute_loss_from_embeddings(embeddings, labels)
        if self.mse_weight:
            loss = loss + self.mse_weight * cosine_mse(embeddings[0], embeddings[1], labels)
        return loss
