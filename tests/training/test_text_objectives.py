"""Every text objective runs on a tiny 2-layer model and lowers its loss on a fixed batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS

from selfsim.data.pair_files import Example
from selfsim.objectives.info_nce import cross_batch_info_nce
from selfsim.objectives.text_objective import OBJECTIVES, build_objective

SCORES = [0.1, 0.5, 0.9, 0.3, 0.2, 0.7, 0.4, 0.6]


def batch_for(name: str) -> list[Example]:
    """A fixed batch of 8 (4 for crops) rows of the kind the objective needs."""
    texts = TINY_TEXTS[:8]
    shifted = TINY_TEXTS[1:9]
    if name in ("simcse", "denoise"):
        return [Example((t,)) for t in texts]
    if name == "crops":
        return [Example((d,)) for d in TINY_DOCUMENTS]
    if name in ("cosine", "cosent"):
        return [Example((a, b), s) for a, b, s in zip(texts, shifted, SCORES, strict=True)]
    if name == "contrastive":
        return [Example((a, b), float(s > 0.5)) for a, b, s in zip(texts, shifted, SCORES, strict=True)]
    if name == "triplet":
        return [Example((a, a.upper(), b)) for a, b in zip(texts, shifted, strict=True)]
    if name == "margin_mse":  # triplets labelled with the teacher's score margin, as adapt makes them
        return [Example((a, a.upper(), b), 0.02) for a, b in zip(texts, shifted, strict=True)]
    return [Example((a, a.lower().rstrip("."))) for a in texts]  # pairs


def loss_on(objective: torch.nn.Module, rows: list[Example], step: int) -> torch.Tensor:
    columns = objective.views(rows, np.random.default_rng(step))
    features = [objective.model.preprocess(column) for column in columns]
    return objective(features, objective.labels(rows))


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_each_objective_lowers_its_loss_on_a_fixed_batch(name: str, tiny_model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(tiny_model_dir), device="cpu", local_files_only=True)
    objective = build_objective(name, model)
    rows = batch_for(name)
    optimiser = torch.optim.AdamW(objective.parameters(), lr=3e-3)

    def measured() -> float:
        torch.manual_seed(1)  # the same dropout masks and the same views each time
        with torch.no_grad():
            return float(loss_on(objective, rows, step=0))

    before = measured()
    for _ in range(8):
        torch.manual_seed(1)
        loss = loss_on(objective, rows, step=0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = measured()
    assert np.isfinite(before) and after < before


def test_simcse_views_differ_only_by_dropout(tiny_model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model_dir), device="cpu", local_files_only=True)
    objective = build_objective("simcse", model)
    first, second = objective.views([Example(("The cat sat on the mat.",))], np.random.default_rng(0))
    assert first == second
    features = model.preprocess(first)
    model.train()
    a, b = (model(dict(features))["sentence_embedding"] for _ in range(2))
    assert not torch.allclose(a, b)  # two dropout masks, two views
    model.eval()
    c, d = (model(dict(features))["sentence_embedding"] for _ in range(2))
    assert torch.allclose(c, d)


def test_info_nce_prefers_matching_rows() -> None:
    aligned = torch.eye(4)
    assert float(cross_batch_info_nce(aligned, aligned, 0.05)) < 1e-6
    assert float(cross_batch_info_nce(aligned, aligned.flip(0), 0.05)) > 10
