"""Margin-MSE: zero when the student's margins are the teacher's, lower after a few steps; the teacher's margins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_text import TINY_TEXTS

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.objectives.margin_mse import margin_mse_loss
from selfsim.objectives.text_objective import OBJECTIVES, build_objective, objective_class
from selfsim.tasks.adapt_queries import TeacherConfig, TeacherHit, mine_examples, teacher_scores

ROWS = [Example((a, b, c), m) for a, b, c, m in zip(TINY_TEXTS[:8], TINY_TEXTS[1:9], TINY_TEXTS[2:10],
                                                    [0.03, -0.01, 0.02, 0.04, 0.0, 0.02, 0.03, -0.02], strict=True)]


def _objective(tiny_model_dir: Path, **options: float) -> torch.nn.Module:
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(tiny_model_dir), device="cpu", local_files_only=True)
    return build_objective("margin_mse", model, dict(options))


def _loss(objective: torch.nn.Module, rows: list[Example]) -> torch.Tensor:
    columns = objective.views(rows, np.random.default_rng(0))
    return objective([objective.model.preprocess(column) for column in columns], objective.labels(rows))


def test_the_loss_is_zero_when_the_student_margins_are_the_teachers() -> None:
    generator = torch.Generator().manual_seed(0)
    q, p, n = (torch.randn(6, 16, generator=generator) for _ in range(3))
    unit = [torch.nn.functional.normalize(x, dim=-1) for x in (q, p, n)]
    margins = (unit[0] * unit[1]).sum(-1) - (unit[0] * unit[2]).sum(-1)
    assert float(margin_mse_loss(q, p, n, margins)) == pytest.approx(0.0, abs=1e-10)
    # off by 0.1 everywhere, times the scale of 20: (20 * 0.1)^2 = 4
    assert float(margin_mse_loss(q, p, n, margins + 0.1)) == pytest.approx(4.0, rel=1e-4)


def test_the_objective_is_registered_and_zero_on_its_own_margins(tiny_model_dir: Path) -> None:
    assert "margin_mse" in OBJECTIVES
    objective = _objective(tiny_model_dir)
    objective.eval()  # no dropout: the margins measured are the margins the loss sees
    with torch.no_grad():
        columns = objective.views(ROWS, np.random.default_rng(0))
        q, p, n = objective.embed([objective.model.preprocess(column) for column in columns])
        unit = [torch.nn.functional.normalize(x, dim=-1) for x in (q, p, n)]
        own = ((unit[0] * unit[1]).sum(-1) - (unit[0] * unit[2]).sum(-1)).tolist()
        rows = [Example(row.texts, margin) for row, margin in zip(ROWS, own, strict=True)]
        assert float(_loss(objective, rows)) == pytest.approx(0.0, abs=1e-6)
        assert float(_loss(objective, ROWS)) > 0.1


@pytest.mark.parametrize("options", [{}, {"contrastive_weight": 1.0}])
def test_a_short_training_run_lowers_the_loss(tiny_model_dir: Path, options: dict[str, float]) -> None:
    objective = _objective(tiny_model_dir, **options)
    objective.eval()  # the same forward pass each time, so the comparison is of the weights alone
    optimiser = torch.optim.AdamW(objective.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(_loss(objective, ROWS))
    for _ in range(8):
        loss = _loss(objective, ROWS)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        after = float(_loss(objective, ROWS))
    assert np.isfinite(before) and after < before


def test_bad_weights_are_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="margin_weight"):
        _objective(tiny_model_dir, margin_weight=0.0, contrastive_weight=0.0)
    with pytest.raises(ConfigError, match="negatives >= 1"):
        TeacherConfig(loss="margin_mse", negatives=0)
    with pytest.raises(ConfigError, match="loss must be one of"):
        TeacherConfig(loss="mse")
    with pytest.raises(ConfigError, match="adapt --loss margin_mse"):  # a plain triplet file has no margins
        objective_class("margin_mse").check_data("triplets", "triplets.tsv")


def test_teacher_scores_fuse_z_scores_on_the_dense_cosine_scale() -> None:
    dense = [0.8, 0.6, 0.5, 0.4]
    # keyword scores that order the hits as the dense ones do (a linear map): the teacher is the dense score
    agree = [TeacherHit(f"i{i}", "", i + 1, i + 1, 20.0 * d + 3.0, d) for i, d in enumerate(dense)]
    np.testing.assert_allclose(teacher_scores(agree), [0.8, 0.6, 0.5, 0.4], atol=1e-12)
    # the keyword signal reversed: the hits meet in the middle, on the dense mean
    reverse = [TeacherHit(f"i{i}", "", i + 1, 4 - i, 20.0 * (1.0 - d), d) for i, d in enumerate(dense)]
    np.testing.assert_allclose(teacher_scores(reverse), [0.575] * 4, atol=1e-12)
    # a hit a signal did not find gets that signal's lowest score in the list
    missing = [*agree[:3], TeacherHit("i3", "", None, 4, -2.0, None)]
    assert teacher_scores(missing)[3] == pytest.approx(teacher_scores([*agree[:3], TeacherHit(
        "i3", "", 4, 4, -2.0, 0.5)])[3])


def test_mined_triplets_carry_the_teachers_margin() -> None:
    ranking = [TeacherHit(f"i{r}", f"text {r}", r, r, 20.0 - r, 0.9 - 0.05 * r) for r in range(1, 9)]
    rows = mine_examples(["q"], [ranking], TeacherConfig(negatives=1, negative_after=4))
    scores = teacher_scores(ranking)
    assert [row.texts for row in rows] == [("q", "text 1", "text 5")]
    assert rows[0].label == pytest.approx(scores[0] - scores[4], abs=1e-6) and rows[0].label > 0
