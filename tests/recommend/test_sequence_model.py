"""The sequence model: causality, the masked variant, artifacts, and learning a planted pattern."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from selfsim.data.interactions import leave_one_out
from selfsim.encoders.sequence import SequenceConfig, SequenceModel
from selfsim.evaluation.recommend import score_split
from selfsim.objectives.info_nce import nt_xent
from selfsim.objectives.masked_item import mask_items
from selfsim.objectives.next_item import catalogue_loss
from selfsim.objectives.sequence_contrastive import AugmentConfig, augment
from selfsim.tasks.recommend.baselines import PopularityRecommender
from selfsim.training.sequence import SequenceTrainingConfig, train_sequence_model


def test_causal_states_never_see_the_future() -> None:
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig(n_items=20, max_length=8, dim=16, heads=2, blocks=2, dropout=0.0)).eval()
    items = torch.tensor([[3, 5, 7, 9, 11, 0, 0, 0]])
    changed = items.clone()
    changed[0, 3:5] = torch.tensor([1, 2])  # perturb positions 3 and 4
    with torch.no_grad():
        before, after = model(items), model(changed)
    assert torch.allclose(before[0, :3], after[0, :3], atol=1e-6)  # the past is untouched
    assert not torch.allclose(before[0, 3], after[0, 3])


def test_padding_never_changes_real_states() -> None:
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig(n_items=20, max_length=8, dim=16, dropout=0.0)).eval()
    with torch.no_grad():
        short = model(torch.tensor([[3, 5, 7]]))
        padded = model(torch.tensor([[3, 5, 7, 0, 0]]))
    assert torch.allclose(short[0], padded[0, :3], atol=1e-6)
    bidirectional = SequenceModel(SequenceConfig(n_items=20, max_length=8, dim=16, dropout=0.0, causal=False)).eval()
    with torch.no_grad():
        short = bidirectional(torch.tensor([[3, 5, 21]]))
        padded = bidirectional(torch.tensor([[3, 5, 21, 0, 0]]))
    assert torch.allclose(short[0], padded[0, :3], atol=1e-5)


def test_chunked_softmax_matches_cross_entropy() -> None:
    torch.manual_seed(0)
    states = torch.randn(150, 8, requires_grad=True)
    items = torch.randn(30, 8, requires_grad=True)
    targets = torch.randint(1, 30, (150,))
    excluded = torch.zeros(30, dtype=torch.bool)
    excluded[0] = True
    loss = catalogue_loss(states, targets, items, excluded)
    loss.backward()
    grads = states.grad.clone(), items.grad.clone()
    states.grad = items.grad = None
    logits = (states @ items.T).masked_fill(excluded, float("-inf"))
    reference = torch.nn.functional.cross_entropy(logits, targets)
    reference.backward()
    assert torch.allclose(loss, reference, atol=1e-5)
    assert torch.allclose(grads[0], states.grad, atol=1e-6) and torch.allclose(grads[1], items.grad, atol=1e-6)
    sampled = catalogue_loss(states, targets, items, excluded, negatives=10, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(sampled)


def test_masking_and_views() -> None:
    items = torch.tensor([[1, 2, 3, 4, 0, 0], [5, 6, 0, 0, 0, 0]])
    inputs, targets = mask_items(items, 9, probability=0.0, last_probability=1.0)
    assert inputs.tolist() == [[1, 2, 3, 9, 0, 0], [5, 9, 0, 0, 0, 0]]
    assert targets.tolist() == [[0, 0, 0, 4, 0, 0], [0, 6, 0, 0, 0, 0]]
    rng = np.random.default_rng(0)
    history = np.arange(1, 11)
    crop = augment(history, 99, rng, AugmentConfig(kinds=("crop",)))
    assert len(crop) == 6 and np.all(np.diff(crop) == 1)
    reordered = augment(history, 99, rng, AugmentConfig(kinds=("reorder",)))
    assert sorted(reordered.tolist()) == history.tolist()
    a = torch.randn(4, 8)
    assert nt_xent(a, a, 0.1) < nt_xent(a, torch.randn(4, 8), 0.1)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = SequenceModel(SequenceConfig(n_items=12, max_length=6, dim=8, heads=2, text_dim=4)).eval()
    model.set_text_vectors(np.random.default_rng(0).normal(size=(13, 4)))
    model.save(tmp_path / "m", {"items": [str(i) for i in range(12)]})
    loaded, payload = SequenceModel.load(tmp_path / "m")
    assert payload["items"][3] == "3" and "selfsim_version" in payload
    histories = [np.array([1, 2, 3]), np.array([4])]
    assert torch.allclose(model.user_vectors(histories), loaded.user_vectors(histories))


def _tiny(objective: str = "next_item", contrastive: float = 0.0) -> SequenceTrainingConfig:
    return SequenceTrainingConfig(objective=objective, epochs=12, batch_size=32, eval_every=4, patience=3,
                                  contrastive_weight=contrastive, threads=None, seed=0)


def test_a_few_epochs_learn_a_planted_pattern_and_beat_popularity(tmp_path: Path, planted_log: Callable) -> None:
    log = planted_log()
    split = leave_one_out(log)
    shape = SequenceConfig(n_items=log.n_items, max_length=10, dim=32, heads=2, blocks=1, dropout=0.1)
    result = train_sequence_model(split, shape, _tiny(contrastive=0.1), output_dir=tmp_path / "run")
    popular = PopularityRecommender(log.n_items).fit(split.train)  # as the model: training histories only
    model_figures = score_split(lambda h: result.model.score(result.model.user_vectors(h)), split)
    popular_figures = score_split(popular.score, split)
    assert model_figures["hr@5"] > 0.8 > popular_figures["hr@5"] + 0.3
    assert (tmp_path / "run" / "curve.png").is_file() and (tmp_path / "run" / "best.safetensors").is_file()


def test_masked_item_objective_learns_too(planted_log: Callable) -> None:
    log = planted_log(seed=1)
    split = leave_one_out(log)
    shape = SequenceConfig(n_items=log.n_items, max_length=10, dim=32, heads=2, blocks=1, dropout=0.1)
    result = train_sequence_model(split, shape, _tiny("masked_item"))
    assert not result.model.config.causal
    figures = score_split(lambda h: result.model.score(result.model.user_vectors(h)), split)
    assert figures["hr@5"] > 0.5


def test_resume_continues_from_the_checkpoint(tmp_path: Path, planted_log: Callable) -> None:
    log = planted_log(users=60)
    split = leave_one_out(log)
    shape = SequenceConfig(n_items=log.n_items, max_length=10, dim=16, heads=2, blocks=1, dropout=0.1)
    first = train_sequence_model(split, shape, SequenceTrainingConfig(epochs=2, batch_size=16, threads=None,
                                                                      patience=5), output_dir=tmp_path)
    resumed = train_sequence_model(split, shape, SequenceTrainingConfig(epochs=4, batch_size=16, threads=None,
                                                                        patience=5),
                                   output_dir=tmp_path, resume=True)
    assert first.epochs_run == 2 and resumed.epochs_run == 4
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
