"""The Encoder protocol every text encoder follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from selfsim.errors import ConfigError

ProgressCallback = Callable[[int], None]
Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")


def check_backend(name: str) -> Backend:
    """``name`` as a :data:`Backend`, or a :class:`ConfigError` that lists the ones there are."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}.")
    return name  # type: ignore[return-value]


def versioned(digest: str, backend: Backend) -> str:
    """The version recorded for vectors of weights ``digest`` computed by ``backend``.

    torch's is the bare digest (as collections made before backends existed recorded it);
    another backend's is ``digest+backend``, so its vectors never pass for torch's.
    """
    return digest if backend == "torch" else f"{digest}+{backend}"


def weights_of(version: str) -> str:
    """The weights' digest in a recorded ``version``, whatever backend computed the vectors."""
    return version.partition("+")[0]


def backend_of(version: str) -> Backend:
    """The backend whose vectors a recorded ``version`` names (see :func:`versioned`)."""
    _, _, suffix = version.partition("+")
    return suffix if suffix in BACKENDS else "torch"  # type: ignore[return-value]


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
