"""Training checkpoints that survive a crash: model, optimiser, schedule, RNG and loop state.

A checkpoint is a directory ``checkpoint-<step>`` holding
``model.safetensors``, ``optimizer.safetensors`` (the optimiser's tensors,
flattened by key), and ``trainer_state.json`` (everything else: the loop's
state, the optimiser's non-tensor entries, the schedule, the RNG states). It is
written into a temporary directory and renamed into place, so a crash while
saving leaves the previous checkpoint intact. No pickle: tensors go to
safetensors and the rest to JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from selfsim.errors import NotFoundError

_PREFIX = "checkpoint-"


def _split_tensors(tree: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replaces every tensor in a nested dict/list with a ``{"__tensor__": key}`` marker."""
    if isinstance(tree, torch.Tensor):
        tensors[path] = tree.detach().cpu().contiguous()
        return {"__tensor__": path}
    if isinstance(tree, dict):
        return {"__keys__": [[_key(key), _split_tensors(value, f"{path}.{key}", tensors)]
                             for key, value in tree.items()]}
    if isinstance(tree, list | tuple):
        return [_split_tensors(value, f"{path}.{index}", tensors) for index, value in enumerate(tree)]
    return tree


def _key(key: Any) -> Any:
    return {"__int__": key} if isinstance(key, int) else key


def _join_tensors(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, dict) and "__tensor__" in tree:
        return tensors[tree["__tensor__"]]
    if isinstance(tree, dict) and "__keys__" in tree:
        return {(key["__int__"] if isinstance(key, dict) else key): _join_tensors(value, tensors)
                for key, value in tree["__keys__"]}
    if isinstance(tree, list):
        return [_join_tensors(value, tensors) for value in tree]
    return tree


def _rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    state = {"python": [python_state[0], list(python_state[1]), python_state[2]],
             "numpy": [numpy_state[0], numpy_state[2], numpy_state[3], numpy_state[4]]}
    return state, {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(numpy_state[1].copy())}


def _set_rng_state(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy(), position, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])


def save_checkpoint(directory: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any | None = None, state: dict[str, Any] | None = None) -> Path:
    """Writes a checkpoint to ``directory`` atomically (replacing one already there); returns its path."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    save_file({key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()},
              str(temporary / "model.safetensors"))
    tensors: dict[str, torch.Tensor] = {}
    rng, rng_tensors = _rng_state()
    tensors.update(rng_tensors)
    trainer_state = {
        "state": state or {},
        "optimizer": _split_tensors(optimizer.state_dict(), "optimizer", tensors) if optimizer else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng,
    }
    save_file(tensors, str(temporary / "optimizer.safetensors"))
    (temporary / "trainer_state.json").write_text(json.dumps(trainer_state, default=_json_default))
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(temporary, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temporary, directory)
    return directory


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def load_checkpoint(directory: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any | None = None) -> dict[str, Any]:
    """Restores model, optimiser, schedule and RNG from ``directory``; returns the loop state saved with them."""
    directory = Path(directory)
    if not (directory / "trainer_state.json").exists():
        raise NotFoundError(f"No checkpoint at {directory}; pass a directory written by a training run.")
    model.load_state_dict(load_file(str(directory / "model.safetensors")))
    tensors = load_file(str(directory / "optimizer.safetensors"))
    trainer_state = json.loads((directory / "trainer_state.json").read_text())
    if optimizer is not None and trainer_state["optimizer"] is not None:
        optimizer.load_state_dict(_join_tensors(trainer_state["optimizer"], tensors))
    if scheduler is not None and trainer_state["scheduler"] is not None:
        scheduler.load_state_dict(trainer_state["scheduler"])
    _set_rng_state(trainer_state["rng"], tensors)
    return trainer_state["state"]


def checkpoint_path(root: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` goes under ``root``."""
    return Path(root) / f"{_PREFIX}{step}"


def latest_checkpoint(root: str | Path) -> Path | None:
    """The complete checkpoint with the highest step under ``root``, or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    found = [(int(path.name[len(_PREFIX):]), path) for path in root.iterdir()
             if path.name.startswith(_PREFIX) and path.name[len(_PREFIX):].isdigit()
             and (path / "trainer_state.json").exists()]
    return max(found)[1] if found else None
