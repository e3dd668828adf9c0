"""Triplet loss: the anchor should be closer to the positive than to the negative by a margin.

Inputs: ``(anchor, positive, negative)`` triplets, from a file or mined from
a collection (:func:`selfsim.tasks.adapt.mine_triplets`: the positive is
another chunk of the same item or a same-label item, the negative a hard
negative from the index that is no known positive). Loss:
``max(0, d(a, p) - d(a, n) + margin)`` with cosine (default) or Euclidean
distance; sentence-transformers' TripletLoss. Papers: Schroff, Kalenichenko &
Philbin 2015, "FaceNet"; Reimers & Gurevych 2019 (SBERT's triplet objective).
Relatives: contrastive (absolute distances), pairs (many negatives, softmax).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from selfsim.errors import ConfigError
from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """TripletLoss with ``distance`` ``"cosine"`` or ``"euclidean"`` and ``margin``."""

    name = "triplet"
    accepts = ("triplets",)
    needs = "triplets (anchor, positive, negative)"

    def __init__(self, model: nn.Module, margin: float = 0.3,
                 distance: Literal["cosine", "euclidean"] = "cosine") -> None:
        super().__init__(model)
        from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric, TripletLoss

        metrics = {"cosine": TripletDistanceMetric.COSINE, "euclidean": TripletDistanceMetric.EUCLIDEAN}
        if distance not in metrics:
            raise ConfigError(f"unknown triplet distance {distance!r}; use 'cosine' or 'euclidean'.")
        self.loss = TripletLoss(model, distance_metric=metrics[distance], triplet_margin=margin)

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """The hinge on the distance difference, averaged over the batch."""
        return self.loss.compute_loss_from_embeddings(self.embed(features), labels)
