"""Contrastive loss: similar pairs pulled together, dissimilar pairs pushed beyond a margin.

Inputs: ``(sentence1, sentence2, label)`` with label 1 for similar and 0 for
dissimilar. Loss: ``y * d^2 + (1 - y) * max(0, margin - d)^2`` over the
cosine distance ``d = 1 - cos`` (halved), as sentence-transformers'
ContrastiveLoss; ``online=True`` uses only the hard pairs of the batch
(OnlineContrastiveLoss). Paper: Hadsell, Chopra & LeCun 2006,
"Dimensionality Reduction by Learning an Invariant Mapping". Relatives:
triplet (relative instead of absolute distances), cosine (graded scores).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """ContrastiveLoss (or OnlineContrastiveLoss) with cosine distance and ``margin``."""

    name = "contrastive"
    accepts = ("labelled",)
    needs = "labelled pairs (sentence1, sentence2, label 0 or 1)"

    def __init__(self, model: nn.Module, margin: float = 0.5, online: bool = False) -> None:
        super().__init__(model)
        from sentence_transformers.sentence_transformer.losses import (
            ContrastiveLoss,
            OnlineContrastiveLoss,
            SiameseDistanceMetric,
        )

        kind = OnlineContrastiveLoss if online else ContrastiveLoss
        self.loss = kind(model, distance_metric=SiameseDistanceMetric.COSINE_DISTANCE, margin=margin)

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """The contrastive loss of the batch."""
        return self.loss.compute_loss_from_embeddings(self.embed(features), labels)
