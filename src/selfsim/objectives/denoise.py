"""TSDAE: a denoising auto-encoder — rebuild a sentence from the pooled embedding of a damaged copy.

Inputs: plain texts. Each step deletes ``deletion_ratio`` (0.6) of each
text's tokens with :func:`selfsim.data.views.delete_tokens` (our own
tokeniser: nothing is downloaded), encodes the damaged text into one vector,
and trains a transformer decoder, whose only view of the input is that vector
(through cross-attention), to reproduce the original text token by token;
the loss is that decoder's cross-entropy. The decoder shares the encoder's
weights (tied) and is built from the encoder's own local directory, so no
model hub is contacted; it is dropped when the model is saved. This wraps
sentence-transformers' DenoisingAutoEncoderLoss. Paper: Wang, Reimers &
Gurevych 2021, "TSDAE: Using Transformer-based Sequential Denoising
Auto-Encoder for Unsupervised Sentence Embedding Learning". Relatives: simcse,
crops (contrastive instead of generative).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from selfsim.data.pair_files import Example
from selfsim.data.views import delete_tokens
from selfsim.errors import ConfigError
from selfsim.objectives.text_objective import TextObjective


class Objective(TextObjective):
    """TSDAE over plain texts; ``deletion_ratio`` is the share of tokens deleted."""

    name = "denoise"
    accepts = ("texts",)
    needs = "plain texts (a text column)"

    def __init__(self, model: nn.Module, deletion_ratio: float = 0.6) -> None:
        super().__init__(model)
        if not 0.0 <= deletion_ratio < 1.0:
            raise ConfigError(f"the deletion ratio must be in [0, 1), not {deletion_ratio}; TSDAE uses 0.6.")
        from sentence_transformers.sentence_transformer.losses import DenoisingAutoEncoderLoss

        source = getattr(model.transformers_model.config, "_name_or_path", "")  # type: ignore[union-attr]
        if not source or not Path(source).is_dir():
            raise ConfigError("the denoise objective builds its decoder from the encoder's local directory, "
                              f"but the encoder came from {source!r}; load the base model from a directory.")
        from transformers.utils import logging as transformers_logging

        self.deletion_ratio = deletion_ratio
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # the decoder's new cross-attention weights are expected
        try:
            self.loss = DenoisingAutoEncoderLoss(model, decoder_name_or_path=None, tie_encoder_decoder=True)
        finally:
            transformers_logging.set_verbosity(verbosity)

    def views(self, rows: Sequence[Example], rng: np.random.Generator) -> list[list[str]]:
        """Damaged texts and the originals."""
        originals = [row.texts[0] for row in rows]
        return [[delete_tokens(text, self.deletion_ratio, rng) for text in originals], originals]

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """The decoder's reconstruction cross-entropy."""
        return self.loss(list(features), labels)
