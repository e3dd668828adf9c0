"""Contrastive views of a history: two random augmentations of the same history should encode alike.

Inputs: a batch of item histories; each gets two *views* made by one of
three augmentations — crop (a random contiguous share of the items), mask
(a random share replaced by ``[mask]``) or reorder (a random span shuffled).
Both views go through the encoder; the state after the last item of each is
the view's vector, (B, D) twice. Loss: InfoNCE (NT-Xent,
:func:`~selfsim.objectives.info_nce.nt_xent`) with temperature —
each view must pick its partner out of the other 2B - 2 views of the batch by
cosine similarity. Used as an auxiliary loss beside next-item prediction,
switched on and weighted by the trainer, where histories are short and
sparse. Relatives: SimCLR (Chen et al. 2020) on images, SimCSE on sentences,
DuoRec and ICLRec on sequences. Paper: Xie et al. 2022, "Contrastive Learning
for Sequential Recommendation" (CL4SRec).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from selfsim.objectives.info_nce import nt_xent


@dataclass(frozen=True)
class AugmentConfig:
    """Shares for the three augmentations: kept by a crop, masked, and shuffled by a reorder."""

    crop: float = 0.6
    mask: float = 0.3
    reorder: float = 0.3
    kinds: tuple[str, ...] = ("crop", "mask", "reorder")


def augment(history: np.ndarray, mask_token: int, rng: np.random.Generator,
            config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One random view of ``history`` (1-d item ids); a history of one item is returned as it is."""
    n = len(history)
    if n < 2:
        return history.copy()
    kind = config.kinds[int(rng.integers(len(config.kinds)))]
    if kind == "crop":
        size = max(1, int(config.crop * n))
        start = int(rng.integers(0, n - size + 1))
        return history[start:start + size].copy()
    if kind == "mask":
        view = history.copy()
        view[rng.random(n) < config.mask] = mask_token
        return view
    size = max(2, int(config.reorder * n))
    start = int(rng.integers(0, n - size + 1))
    view = history.copy()
    view[start:start + size] = rng.permutation(view[start:start + size])
    return view


def pad(sequences: Sequence[np.ndarray], width: int | None = None) -> torch.Tensor:
    """Right-pad 1-d id arrays with 0 into a (B, T) tensor."""
    width = width or max(1, max(len(s) for s in sequences))
    out = np.zeros((len(sequences), width), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = sequence[:width]
    return torch.from_numpy(out)


class SequenceContrastiveLoss(nn.Module):
    """Makes two views of each history, encodes them with ``model`` and returns their InfoNCE loss."""

    def __init__(self, model: nn.Module, temperature: float = 0.2, augment_config: AugmentConfig = AugmentConfig()
                 ) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature
        self.augment_config = augment_config

    def views(self, histories: Sequence[np.ndarray], rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of every history, both (2B, T) in one padded batch, and their last positions."""
        token = self.model.config.mask_token
        limit = self.model.config.max_length
        views = [augment(h[-limit:], token, rng, self.augment_config) for _ in range(2) for h in histories]
        return pad(views), torch.tensor([len(v) - 1 for v in views])

    def forward(self, histories: Sequence[np.ndarray], rng: np.random.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(view vectors (2B, D), loss)``."""
        batch, last = self.views(histories, rng)
        states = self.model(batch)  # (2B, T, D)
        vectors = states[torch.arange(len(last)), last]  # (2B, D)
        B = len(histories)
        return vectors, nt_xent(vectors[:B], vectors[B:], self.temperature)
