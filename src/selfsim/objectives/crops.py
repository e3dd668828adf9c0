"""Contrastive crops: two views of one document are a positive pair, other documents in the batch negatives.

Inputs: documents (plain texts; long ones such as abstracts). Each step cuts
two views per document with :func:`selfsim.data.views.crop_pair` — by
default a sentence (or the title) against the rest of the document, the
Inverse Cloze Task of Lee, Chang & Toutanova 2019 ("Latent Retrieval for
Weakly Supervised Open Domain Question Answering"); or two random spans, as
in Contriever (Izacard et al. 2022, "Unsupervised Dense Information Retrieval
with Contrastive Learning"). Loss: InfoNCE (see :mod:`selfsim.objectives.simcse`),
optionally symmetric. Relatives: simcse (positives from dropout), pairs
(positives from labels), neighbouring-chunk pairs (:func:`selfsim.data.views.neighbour_pairs`,
fed through the ``pairs`` objective).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from selfsim.data.pair_files import Example
from selfsim.data.views import CropConfig, CropMode, crop_pair
from selfsim.errors import ConfigError
from selfsim.objectives.info_nce import cross_batch_info_nce
from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """Crops of documents; ``mode`` is ``"ict"`` (sentence vs rest) or ``"spans"`` (two random spans)."""

    name = "crops"
    accepts = ("texts",)
    needs = "documents (a text column)"

    def __init__(self, model: nn.Module, temperature: float = 0.05, mode: CropMode = "ict",
                 title_rate: float = 0.2, keep_rate: float = 0.1, min_ratio: float = 0.1,
                 max_ratio: float = 0.5, max_words: int = 200, symmetric: bool = False) -> None:
        super().__init__(model)
        if temperature <= 0:
            raise ConfigError(f"the temperature must be positive, not {temperature}; 0.05 is usual.")
        self.temperature = temperature
        self.symmetric = symmetric
        self.crop = CropConfig(mode=mode, title_rate=title_rate, keep_rate=keep_rate, min_ratio=min_ratio,
                               max_ratio=max_ratio, max_words=max_words)

    def views(self, rows: Sequence[Example], rng: np.random.Generator) -> list[list[str]]:
        """Anchors and positives, one pair per document (the second text of a row, if any, is its title)."""
        pairs = [crop_pair(row.texts[0], rng, self.crop, row.texts[1] if len(row.texts) > 1 else None)
                 for row in rows]
        return [[a for a, _ in pairs], [p for _, p in pairs]]

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """InfoNCE between anchors and positives."""
        anchors, positives = self.embed(features)  # (B, D) each
        return cross_batch_info_nce(anchors, positives, self.temperature, self.symmetric)
