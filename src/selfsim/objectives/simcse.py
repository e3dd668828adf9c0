"""SimCSE: each sentence twice through the encoder, with different dropout masks, is a positive pair.

Inputs: plain texts. Each is encoded twice in training mode, so dropout makes
the two embeddings differ slightly; the loss is InfoNCE over the batch
(:func:`~selfsim.objectives.info_nce.cross_batch_info_nce`) — the
other sentences are negatives — with cosine similarities divided by a
temperature (0.05 in the paper). Paper: Gao, Yao & Chen 2021, "SimCSE: Simple
Contrastive Learning of Sentence Embeddings". Relatives: crops (positives
from document structure instead of dropout), pairs (positives from labels;
MultipleNegativesRankingLoss computes the same loss with scale = 1/temperature),
CPC/InfoNCE (van den Oord et al. 2018).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from selfsim.data.pair_files import Example
from selfsim.data.views import dropout_views
from selfsim.errors import ConfigError
from selfsim.objectives.info_nce import cross_batch_info_nce
from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """SimCSE over plain texts; ``temperature`` scales the cosine similarities."""

    name = "simcse"
    accepts = ("texts",)
    needs = "plain texts (a text column)"

    def __init__(self, model: nn.Module, temperature: float = 0.05) -> None:
        super().__init__(model)
        if temperature <= 0:
            raise ConfigError(f"the temperature must be positive, not {temperature}; SimCSE uses 0.05.")
        self.temperature = temperature

    def views(self, rows: Sequence[Example], rng: np.random.Generator) -> list[list[str]]:
        """The batch's texts twice."""
        first, second = dropout_views([row.texts[0] for row in rows])
        return [first, second]

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """InfoNCE between the two dropout views."""
        first, second = self.embed(features)  # (B, D) each, different dropout masks
        return cross_batch_info_nce(first, second, self.temperature)
