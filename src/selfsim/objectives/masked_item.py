"""Masked-item prediction: hide some items of a history and recover them from both sides (a cloze task).

Inputs: a batch of right-padded histories, (B, T); a share ``probability`` of
the real items is replaced by the ``[mask]`` token (and, with probability
``last_probability``, always the last item, so training matches serving,
where ``[mask]`` is appended after the history). Loss: full-catalogue softmax
cross-entropy at the masked positions of a bidirectional encoder (see
:func:`selfsim.objectives.next_item.catalogue_loss`). Relatives: next-item
prediction (SASRec), BERT's masked language model on words. Paper: Sun et al.
2019, "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer".
"""

from __future__ import annotations

import torch
from torch import nn

from selfsim.objectives.next_item import catalogue_loss


def mask_items(items: torch.Tensor, mask_token: int, probability: float, last_probability: float = 0.5,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace items of ``items`` (B, T) by ``mask_token``; returns ``(inputs, targets)``, targets 0 where unmasked."""
    real = items > 0  # (B, T)
    chosen = (torch.rand(items.shape, generator=generator) < probability) & real
    lengths = real.sum(1)  # (B,)
    last = (torch.rand(items.shape[0], generator=generator) < last_probability) & (lengths > 0)
    rows = torch.nonzero(last).squeeze(1)
    chosen[rows, lengths[rows] - 1] = True
    inputs = items.masked_fill(chosen, mask_token)
    targets = items.masked_fill(~chosen, 0)
    return inputs, targets


def masked_item_loss(states: torch.Tensor, targets: torch.Tensor, item_vectors: torch.Tensor,
                     excluded: torch.Tensor | None = None, negatives: int = 0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy of the hidden items ``targets`` (N,) from the states at their positions (N, D)."""
    return catalogue_loss(states, targets, item_vectors, excluded, negatives, generator)


class MaskedItemLoss(nn.Module):
    """Masks a batch, encodes it with a bidirectional ``model`` and recovers the hidden items."""

    def __init__(self, model: nn.Module, probability: float = 0.2, last_probability: float = 0.5,
                 negatives: int = 0) -> None:
        super().__init__()
        self.model = model
        self.probability = probability
        self.last_probability = last_probability
        self.negatives = negatives

    def forward(self, items: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``items`` (B, T) right-padded with 0; returns ``(states (B, T, D), loss)``."""
        inputs, targets = mask_items(items, self.model.config.mask_token, self.probability, self.last_probability,
                                     generator)
        states = self.model(inputs)  # (B, T, D)
        hidden = targets > 0
        loss = masked_item_loss(states[hidden], targets[hidden], self.model.item_vectors(),
                                ~self.model.item_known, self.negatives, generator)
        return states, loss
