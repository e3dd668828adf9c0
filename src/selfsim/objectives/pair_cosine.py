"""Cosine-similarity loss on label-derived pairs: push the cosine of two embeddings towards a target.

Inputs: embeddings of a batch of texts and their classes; every pair in the
batch is a target — 1 when the two texts share a class, 0 otherwise. Loss:
the squared error between cos(a, b) and the target, averaged separately over
positive and negative pairs and then equally weighted, so a batch with many
classes (mostly negative pairs) still pulls each class together. This is the
CosineSimilarityLoss of sentence-transformers (Reimers & Gurevych 2019,
"Sentence-BERT") that SetFit (Tunstall et al. 2022) trains on pairs from a
few labels, computed over all pairs in a batch. Relatives: the contrastive
loss (a margin on distances, Hadsell et al. 2006), the triplet loss (Schroff
et al. 2015) and supervised contrastive learning (Khosla et al. 2020).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def cosine_pair_loss(embeddings: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Balanced MSE between pairwise cosines and same-class targets; ``embeddings`` (B, D), ``classes`` (B,)."""
    unit = nn.functional.normalize(embeddings, dim=-1)
    cosine = unit @ unit.T  # (B, B)
    same = (classes[:, None] == classes[None, :]).to(cosine.dtype)  # (B, B)
    upper = torch.triu(torch.ones_like(cosine, dtype=torch.bool), diagonal=1)  # each pair once
    error = (cosine - same) ** 2
    positive, negative = upper & (same > 0), upper & (same == 0)
    parts = [error[mask].mean() for mask in (positive, negative) if mask.any()]
    return torch.stack(parts).mean()


class CosinePairLoss(nn.Module):
    """Encodes a batch of texts with ``model`` (a SentenceTransformer), then :func:`cosine_pair_loss`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: dict[str, Any], classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(embeddings (B, D), loss)``."""
        embeddings = self.model(features)["sentence_embedding"]  # (B, D)
        return embeddings, cosine_pair_loss(embeddings, classes)
