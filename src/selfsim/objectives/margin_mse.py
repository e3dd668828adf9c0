"""Margin-MSE: distil a teacher's score margins into the encoder.

Inputs: ``(query, positive, negative)`` triplets whose label is the teacher's margin
``t(q, p) - t(q, n)``, in the units of the student's cosine similarity. Loss: the mean squared
difference between the student's margin ``cos(q, p) - cos(q, n)`` and the teacher's, both multiplied by
``scale`` (20, the same 1/temperature as the ``pairs`` loss, so that the two losses have comparable sizes
when combined): ``mean((scale * (s_p - s_n) - scale * m_t)^2)``. Only the difference of the two scores is
taught, not the scores themselves, so a student whose scores live on another scale than the teacher's still
learns the teacher's ordering and confidence. With ``contrastive_weight > 0`` the in-batch + hard-negative
contrastive loss of the ``pairs`` objective (MultipleNegativesRankingLoss) is added:
``margin_weight * margin-MSE + contrastive_weight * in-batch``.

In ``selfsim adapt`` the teacher is the collection's hybrid search; the margins come from
:func:`selfsim.tasks.adapt_queries.teacher_margin` (each signal's scores z-scored over the query's teacher
list, fused with the search's dense weight, and mapped back onto the query's dense cosine scale).

Paper: Hofstätter et al. 2020, "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
Distillation". Relatives: ``pairs`` (in-batch softmax, no teacher scores), ``triplet`` (a fixed margin instead
of the teacher's), ``cosine`` (regresses absolute scores rather than differences).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from selfsim.errors import ConfigError
from selfsim.objectives.text_objective import TextObjective


def margin_mse_loss(query: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                    teacher_margin: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """Mean squared error between the student's cosine margins and ``teacher_margin`` (both times ``scale``).

    ``query``, ``positive``, ``negative``: ``(B, D)`` embeddings (normalised here); ``teacher_margin``: ``(B,)``.
    """
    q, p, n = (F.normalize(x, dim=-1) for x in (query, positive, negative))
    student = (q * p).sum(-1) - (q * n).sum(-1)  # (B,)
    return F.mse_loss(scale * student, scale * teacher_margin.to(student.dtype))


class Objective(TextObjective):
    """Margin-MSE on labelled triplets, optionally plus the in-batch contrastive loss (see the module)."""

    name = "margin_mse"
    # plain triplet files carry no margins, so only rows a teacher labelled (selfsim adapt) are accepted
    accepts = ("margined triplets",)
    needs = ("triplets (query, positive, negative) labelled with a teacher's margin, which selfsim adapt --loss "
             "margin_mse makes")

    def __init__(self, model: nn.Module, scale: float = 20.0, margin_weight: float = 1.0,
                 contrastive_weight: float = 0.0) -> None:
        super().__init__(model)
        if margin_weight < 0 or contrastive_weight < 0 or margin_weight + contrastive_weight <= 0:
            raise ConfigError("margin_weight and contrastive_weight must be zero or more, and not both zero.")
        self.scale, self.margin_weight, self.contrastive_weight = scale, margin_weight, contrastive_weight
        self.in_batch: nn.Module | None = None
        if contrastive_weight > 0:
            from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

            self.in_batch = MultipleNegativesRankingLoss(model, scale=scale)

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """``margin_weight * margin-MSE (+ contrastive_weight * in-batch)`` of one batch; ``labels``: (B,)."""
        embeddings = self.embed(features)
        query, positive, negative = embeddings
        loss = self.margin_weight * margin_mse_loss(query, positive, negative, labels, self.scale)
        if self.in_batch is not None:
            loss = loss + self.contrastive_weight * self.in_batch.compute_loss_from_embeddings(embeddings, labels)
        return loss
