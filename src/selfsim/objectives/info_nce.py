"""The two InfoNCE losses the objectives share: paired rows of two (B, D) batches should match.

Both take cosine similarities divided by a temperature and a cross-entropy whose target is each row's
partner; they differ in which rows compete as negatives.

- :func:`cross_batch_info_nce` — row ``i`` of the anchors against every row of the positives only
  (a (B, B) logit matrix), as in SimCSE, contrastive crops and sentence-transformers'
  MultipleNegativesRankingLoss (scale = 1/temperature). Paper: van den Oord et al. 2018, "Representation
  Learning with Contrastive Predictive Coding"; Gao, Yao & Chen 2021 (SimCSE).
- :func:`nt_xent` — both views pooled, every view against the other 2B - 1 (a (2B, 2B) logit matrix with
  the diagonal masked), as in SimCLR and CL4SRec. Paper: Chen et al. 2020, "A Simple Framework for
  Contrastive Learning of Visual Representations".
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def cross_batch_info_nce(anchors: torch.Tensor, positives: torch.Tensor, temperature: float = 0.05,
                         symmetric: bool = False) -> torch.Tensor:
    """InfoNCE: row ``i`` of ``anchors`` (B, D) should match row ``i`` of ``positives`` (B, D) over the
    other positives.

    With ``symmetric`` the loss is also taken from the positives' side and the two are averaged.
    """
    a = F.normalize(anchors, dim=-1)
    p = F.normalize(positives, dim=-1)
    logits = a @ p.T / temperature  # (B, B)
    targets = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, targets)) / 2
    return loss


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent between paired views ``first`` and ``second`` (B, D): each of the 2B views should pick its
    partner out of the other 2B - 1."""
    B = first.shape[0]
    z = F.normalize(torch.cat([first, second]), dim=-1)  # (2B, D)
    similarity = z @ z.T / temperature  # (2B, 2B)
    similarity = similarity.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(z.device)  # (2B,)
    return F.cross_entropy(similarity, partner)
