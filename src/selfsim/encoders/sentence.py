"""Pretrained transformer encoders (self-attention + mean pooling) through sentence-transformers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from selfsim.encoders.base import Backend, ProgressCallback
from selfsim.errors import NotFoundError
from selfsim.threads import single_threaded_torch

SMALL_INPUT = 8  # texts; up to this many are encoded on one thread

# Nothing may be fetched from a model hub at run time; these make a missing file an error
# instead of a download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SentenceEncoder:
    """A sentence-transformers model loaded from a local directory.

    ``name`` is how the collection records it (the registry name or the
    directory); ``version`` is a short hash of the weights file, so two
    directories holding different fine-tunes are told apart.
    """

    def __init__(self, model_dir: str | Path, name: str | None = None, device: str = "cpu") -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
            raise NotFoundError(f"{model_dir} is not a sentence-transformers model directory; "
                                "name a directory that holds modules.json and the weights.")
        from sentence_transformers import SentenceTransformer  # heavy; only loaded when used
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # selfsim draws its own progress bars

        self.model_dir = model_dir
        self.name = name or str(model_dir.resolve())
        self.version = weights_digest(model_dir)
        self.backend: Backend = "torch"
        self.model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed ``texts`` into unit-length float32 vectors of shape ``(N, dim)``."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SMALL_INPUT:  # a query: one thread is faster than waking several
            with single_threaded_torch():
                vectors = self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                            normalize_embeddings=True, show_progress_bar=False)
            if progress is not None:
                progress(len(texts))
            return vectors.astype(np.float32, copy=False)
        # Sorting by length keeps padding low; sentence-transformers sorts only within one call,
        # so this encodes in slices to be able to report progress between them.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = max(batch_size * 8, 1)
        for first in range(0, len(texts), step):
            picked = order[first:first + step]
            vectors = self.model.encode([texts[i] for i in picked], batch_size=batch_size,
                                        convert_to_numpy=True, normalize_embeddings=True,
                                        show_progress_bar=False)
            out[picked] = vectors.astype(np.float32, copy=False)
            if progress is not None:
                progress(len(picked))
        return out


def weights_digest(model_dir: Path) -> str:
    """A short content hash of the weights, cheap enough to compute on every open."""
    for candidate in ("model.safetensors", "pytorch_model.bin"):
        weights = model_dir / candidate
        if weights.is_file():
            digest = hashlib.sha1()
            size = weights.stat().st_size
            digest.update(str(size).encode())
            with weights.open("rb") as handle:  # head and tail: changes anywhere in a fine-tune show
                digest.update(handle.read(1 << 20))
                handle.seek(max(size - (1 << 20), 0))
                digest.update(handle.read(1 << 20))
            return digest.hexdigest()[:12]
    return "unknown"
