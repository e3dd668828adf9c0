"""Model soups: averaged weights load as an ordinary model; mismatched models and bad weights are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from selfsim.errors import ConfigError, NotFoundError
from selfsim.registry import load_encoder
from selfsim.training.soup import WEIGHTS_FILE, average_models


def _shifted_copy(source: Path, target: Path, shift: float) -> Path:
    """A copy of the model with ``shift`` added to every floating-point weight."""
    shutil.copytree(source, target)
    tensors = {k: t + shift if t.is_floating_point() else t for k, t in load_file(str(source / WEIGHTS_FILE)).items()}
    tensors["embeddings.position_ids"] = torch.arange(8)[None, :]  # an integer buffer one save format keeps
    save_file(tensors, str(target / WEIGHTS_FILE), metadata={"format": "pt"})
    return target


def test_the_soup_is_the_weighted_mean(tmp_path: Path, tiny_model_dir: Path) -> None:
    other = _shifted_copy(tiny_model_dir, tmp_path / "other", 0.3)
    soup = average_models([tiny_model_dir, other], tmp_path / "soup", weights=[2, 1])
    base, averaged = load_file(str(tiny_model_dir / WEIGHTS_FILE)), load_file(str(soup / WEIGHTS_FILE))
    for name, tensor in base.items():
        expected = tensor + 0.1 if tensor.is_floating_point() else tensor
        assert torch.allclose(averaged[name], expected, atol=1e-6), name
    vectors = load_encoder(str(soup)).encode(["The cat sat on the mat."])
    assert vectors.shape == (1, 32) and np.isfinite(vectors).all()


def test_bad_soups_are_one_sentence(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="at least two"):
        average_models([tiny_model_dir], tmp_path / "a")
    with pytest.raises(ConfigError, match="one non-negative weight per model"):
        average_models([tiny_model_dir, tiny_model_dir], tmp_path / "b", weights=[1.0])
    with pytest.raises(NotFoundError, match="has no model.safetensors"):
        average_models([tiny_model_dir, tmp_path], tmp_path / "c")
    odd = tmp_path / "odd"
    shutil.copytree(tiny_model_dir, odd)
    save_file({"only": torch.zeros(2)}, str(odd / WEIGHTS_FILE))
    with pytest.raises(ConfigError, match="same base"):
        average_models([tiny_model_dir, odd], tmp_path / "d")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        average_models([tiny_model_dir, tiny_model_dir], tmp_path / "full")
