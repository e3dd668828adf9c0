"""Encoders without a collection: load one by name, embed texts, train one on pairs or triplets.

>>> import selfsim
>>> vectors = selfsim.encode(["reset a password", "log in"])           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from selfsim.config import DEFAULT_ENCODER
from selfsim.data.pair_files import read_examples
from selfsim.encoders.base import Backend, Encoder
from selfsim.registry import DEFAULT_BACKEND
from selfsim.registry import load_encoder as _registered
from selfsim.training.text import TextTrainConfig, TrainReport, Validator, train_text_encoder


def load_encoder(name: str = DEFAULT_ENCODER, backend: Backend = DEFAULT_BACKEND,
                 threads: int | None = None) -> Encoder:
    """The encoder called ``name`` (a registered name such as ``all-MiniLM-L6-v2``, or a sentence-transformers
    model directory) run by ``backend`` (``torch``, ``onnx`` or ``onnx-int8``), loaded once per process;
    nothing is downloaded (an ONNX backend exports the same weights on first use). ``threads`` caps the
    threads it encodes with (default: every core)."""
    return _registered(name, backend, threads)


def encode(texts: Sequence[str], encoder: str | Encoder = DEFAULT_ENCODER, batch_size: int = 32,
           backend: Backend = DEFAULT_BACKEND) -> np.ndarray:
    """Unit vectors of shape ``(len(texts), dim)`` for ``texts`` by ``encoder`` (a name, run by ``backend``,
    or an encoder)."""
    model = load_encoder(encoder, backend) if isinstance(encoder, str) else encoder
    return model.encode(list(texts), batch_size=batch_size)


def train_encoder(base: str | Path, data: str | Path, output_dir: str | Path, kind: str,
                  config: TextTrainConfig = TextTrainConfig(), validator: Validator | None = None,
                  resume: bool = False, progress: Callable[[int], None] | None = None) -> TrainReport:
    """Fine-tune the encoder in ``base`` on the rows of file ``data`` (``kind``: ``pairs``, ``scored-pairs``,
    ``triplets`` or ``texts``; see :mod:`selfsim.data.pair_files`) and save it to
    ``output_dir`` as a model directory that :func:`load_encoder` opens."""
    examples = read_examples(Path(data), kind)  # type: ignore[arg-type]
    return train_text_encoder(base, examples, output_dir, config, data_kind=kind, validator=validator,
                              resume=resume, data_description=str(data), progress=progress)
