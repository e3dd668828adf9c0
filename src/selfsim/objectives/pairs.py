"""Positive pairs with in-batch negatives (MultipleNegativesRankingLoss).

Inputs: ``(anchor, positive)`` pairs, or ``(anchor, positive, negative)``
triplets whose negative is added to the candidates of every anchor. Loss:
cross-entropy of each anchor's scaled cosine similarities over all positives
(and negatives) in the batch, its own positive being the right answer; it is
sentence-transformers' MultipleNegativesRankingLoss (``scale`` = 1/temperature).
Paper: Henderson et al. 2017, "Efficient Natural Language Response Suggestion
for Smart Reply". Relatives: InfoNCE / SimCSE / crops (the same loss on
self-made pairs), triplet (one negative, a margin).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """MultipleNegativesRankingLoss on pairs or triplets; ``scale`` multiplies the cosines (20 = 1/0.05)."""

    name = "pairs"
    accepts = ("pairs", "triplets")
    needs = "positive pairs (sentence1, sentence2) or triplets (anchor, positive, negative)"

    def __init__(self, model: nn.Module, scale: float = 20.0) -> None:
        super().__init__(model)
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        self.loss = MultipleNegativesRankingLoss(model, scale=scale)

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """In-batch softmax over the candidates."""
        return self.loss.compute_loss_from_embeddings(self.embed(features), labels)
