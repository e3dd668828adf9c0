"""Next-item prediction: the state after a prefix of a history should score the item that came next highest.

Inputs: states at the real positions of a batch of histories, (N, D); the
item that followed each, (N,); the vectors of every item, (V + 1, D), id 0
being padding. Loss: cross-entropy of the softmax over the *whole* catalogue
(no sampled negatives), which ranks far better than SASRec's original binary
loss with one random negative (Klenitskiy & Vasilev 2023, "Turning Dross Into
Gold Loss: is BERT4Rec really better than SASRec?"; Petrov & Macdonald 2023,
gSASRec). For catalogues too large for the (N, V) logits, ``negatives > 0``
uses a sampled softmax: the target against ``negatives`` items drawn
uniformly, shared by the batch, accidental hits removed (Jean et al. 2015,
Bengio & Senecal 2008). Relatives: masked-item prediction (BERT4Rec,
:mod:`selfsim.objectives.masked_item`), the causal language-model loss of GPT
on words instead of items. Paper: Kang & McAuley 2018, "Self-Attentive
Sequential Recommendation" (SASRec).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def catalogue_loss(states: torch.Tensor, targets: torch.Tensor, item_vectors: torch.Tensor,
                   excluded: torch.Tensor | None = None, negatives: int = 0,
                   generator: torch.Generator | None = None, label_smoothing: float = 0.0) -> torch.Tensor:
    """Softmax cross-entropy of ``targets`` (N,) given ``states`` (N, D) over ``item_vectors`` (V + 1, D).

    ``excluded`` (V + 1,) bool marks ids that are never an answer (padding, items
    unknown to training). ``negatives > 0`` switches to a sampled softmax.
    """
    if negatives <= 0 and label_smoothing == 0.0:
        return ChunkedSoftmaxCrossEntropy.apply(states, item_vectors, targets, excluded)
    if negatives <= 0:
        logits = states @ item_vectors.T  # (N, V + 1)
        if excluded is not None:
            logits = logits.masked_fill(excluded, float("-inf"))
        return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    n_ids = item_vectors.shape[0]
    sampled = torch.randint(1, n_ids, (negatives,), generator=generator, device=states.device)  # (K,)
    positive = (states * item_vectors[targets]).sum(-1, keepdim=True)  # (N, 1)
    negative = states @ item_vectors[sampled].T  # (N, K)
    hit = sampled[None, :] == targets[:, None]  # (N, K): a sample that is the answer is not a negative
    if excluded is not None:
        hit = hit | excluded[sampled][None, :]
    negative = negative.masked_fill(hit, float("-inf"))
    logits = torch.cat([positive, negative], dim=1)  # (N, 1 + K)
    return F.cross_entropy(logits, torch.zeros_like(targets), label_smoothing=label_smoothing)


class ChunkedSoftmaxCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy over the whole catalogue, computed a few rows at a time.

    The (N, V) logits never exist at once: each chunk of rows is scored, turned
    into softmax gradients in place and multiplied back while it is still in
    the CPU cache, which is about twice as fast as ``F.cross_entropy`` on the
    full matrix and needs a few megabytes instead of N x V floats. The
    gradients are computed in the forward pass (the loss is a scalar mean) and
    scaled in ``backward``.
    """

    CHUNK = 64

    @staticmethod
    def forward(ctx, states, item_vectors, targets, excluded=None):  # noqa: ANN001, ANN205 - autograd signature
        N = states.shape[0]
        size = ChunkedSoftmaxCrossEntropy.CHUNK
        grad_states = torch.empty_like(states)  # (N, D)
        grad_items = torch.zeros_like(item_vectors)  # (V + 1, D)
        # Items along rows, a few states along columns: (V + 1, D) @ (D, c) is the fast shape for
        # MKL here, and one buffer reused for every chunk saves a page-faulting allocation per chunk.
        buffer = states.new_empty(item_vectors.shape[0], min(size, N))
        total = states.new_zeros(())
        for first in range(0, N, size):
            chunk = states[first:first + size]  # (c, D)
            wanted = targets[first:first + size]  # (c,)
            columns = torch.arange(len(wanted))
            logits = buffer[:, : len(wanted)]  # (V + 1, c)
            torch.mm(item_vectors, chunk.T, out=logits)
            if excluded is not None:
                logits.masked_fill_(excluded[:, None], float("-inf"))
            target_logits = logits[wanted, columns]  # (c,)
            peak = logits.max(0, keepdim=True).values  # (1, c)
            probabilities = logits.sub_(peak).exp_()  # in place: (V + 1, c)
            normaliser = probabilities.sum(0, keepdim=True)  # (1, c)
            total += (normaliser.log() + peak).sum() - target_logits.sum()
            probabilities.div_(normaliser)
            probabilities[wanted, columns] -= 1.0  # d loss / d logits = softmax - one-hot
            grad_states[first:first + len(wanted)] = probabilities.T @ item_vectors
            grad_items.addmm_(probabilities, chunk)
        ctx.save_for_backward(grad_states, grad_items)
        ctx.count = N
        return total / N

    @staticmethod
    def backward(ctx, grad_output):  # noqa: ANN001, ANN205 - autograd signature
        grad_states, grad_items = ctx.saved_tensors
        scale = grad_output / ctx.count
        return grad_states * scale, grad_items * scale, None, None


class NextItemLoss(nn.Module):
    """Encodes right-padded histories with a causal ``model`` and scores the next item at real positions."""

    def __init__(self, model: nn.Module, negatives: int = 0, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.negatives = negatives
        self.label_smoothing = label_smoothing

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs`` and ``targets`` (B, T), 0 where there is nothing; returns ``(states (B, T, D), loss)``."""
        states = self.model(inputs)  # (B, T, D)
        real = targets > 0  # (B, T)
        loss = catalogue_loss(states[real], targets[real], self.model.item_vectors(),  # (N, D), (N,)
                              ~self.model.item_known, self.negatives, generator, self.label_smoothing)
        return states, loss
