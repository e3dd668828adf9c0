"""The Encoder protocol every text encoder follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

ProgressCallback = Callable[[int], None]


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors, so inner product is cosine similarity.

    ``name`` says where the encoder comes from (a registry name or a model
    directory) and ``version`` which weights it has, so stored vectors can be
    traced to the model that made them.
    """

    name: str
    version: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``; ``progress(n)`` is called as texts finish."""
        ...
