"""Model soups: the weighted average of the weights of models fine-tuned from the same base.

Fine-tuning runs that start from the same pretrained weights and differ only in
seed, data order or objective usually land in one basin of the loss, so the
average of their weights is a model too — often better than each (Wortsman et
al. 2022, "Model soups"); averaging with the unchanged base (WiSE-FT, Wortsman
et al. 2022) trades some in-domain fit for robustness. The result is an
ordinary model directory: the first model's files with averaged weights.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from safetensors.torch import load_file, save_file

from selfsim.errors import ConfigError, NotFoundError

WEIGHTS_FILE = "model.safetensors"


def average_models(directories: Sequence[str | Path], output_dir: str | Path,
                   weights: Sequence[float] | None = None) -> Path:
    """Write to ``output_dir`` the model whose weights are the ``weights``-average of ``directories``'.

    ``weights`` default to equal shares and are normalised to sum to 1. Every
    model must have the same tensors (names and shapes); the first model's
    other files (config, tokenizer, pooling) are copied.
    """
    paths = [Path(d) for d in directories]
    if len(paths) < 2:
        raise ConfigError("averaging needs at least two model directories.")
    shares = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(shares) != len(paths) or min(shares) < 0 or sum(shares) <= 0:
        raise ConfigError(f"give one non-negative weight per model ({len(paths)}), not all zero.")
    for path in paths:
        if not (path / WEIGHTS_FILE).is_file():
            raise NotFoundError(f"{path} has no {WEIGHTS_FILE}; give directories of saved models.")
    total = sum(shares)
    soup: dict = {}
    reference: dict = {}
    for index, (path, share) in enumerate(zip(paths, shares, strict=True)):
        tensors = load_file(str(path / WEIGHTS_FILE))
        learned = {name: (t.shape, t.dtype) for name, t in tensors.items() if t.is_floating_point()}
        if index == 0:  # integer buffers (position ids) come from the first model as they are
            reference = learned
            soup = {name: t.float() * (share / total) if t.is_floating_point() else t for name, t in tensors.items()}
            continue
        if learned != reference:
            raise ConfigError(f"{path} does not have the same weights as {paths[0]}; only models fine-tuned "
                              "from the same base can be averaged.")
        for name in reference:
            soup[name] = soup[name] + tensors[name].float() * (share / total)
    output = Path(output_dir)
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"{output} already exists and is not empty; give a new directory for the averaged model.")
    shutil.copytree(paths[0], output, ignore=shutil.ignore_patterns("training", WEIGHTS_FILE), dirs_exist_ok=True)
    save_file({name: (t.to(reference[name][1]) if name in reference else t).contiguous() for name, t in soup.items()},
              str(output / WEIGHTS_FILE), metadata={"format": "pt"})
    return output
