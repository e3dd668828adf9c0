"""Siamese regression: the cosine similarity of a pair should equal its score.

Inputs: ``(sentence1, sentence2, score)`` with the score in [0, 1] (STS 0-5
scores are divided by 5). Loss: the mean squared error between
cos(u, v) and the score — sentence-transformers' CosineSimilarityLoss.
Paper: Reimers & Gurevych 2019, "Sentence-BERT: Sentence Embeddings using
Siamese BERT-Networks". Relatives: cosent (ranks pairs instead of regressing,
usually better), contrastive (binary labels with a margin),
:mod:`selfsim.objectives.pair_cosine` (the same loss on label-derived pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selfsim.objectives.text_objective import TextObjective


def cosine_mse(first: torch.Tensor, second: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Mean of ``(cos(first_i, second_i) - scores_i)^2``; ``first``/``second`` (B, D), ``scores`` (B,)."""
    cosine = nn.functional.cosine_similarity(first, second, dim=-1)  # (B,)
    return nn.functional.mse_loss(cosine, scores.to(cosine.dtype))


class Objective(TextObjective):
    """CosineSimilarityLoss on scored pairs."""

    name = "cosine"
    accepts = ("scored",)
    needs = "scored pairs (sentence1, sentence2, score)"

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """MSE between the pair's cosine and its score."""
        first, second = self.embed(features)
        return cosine_mse(first, second, labels)
