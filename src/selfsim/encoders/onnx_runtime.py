"""Sentence encoders run by ONNX Runtime from a graph exported from the same weights.

Texts are tokenised up front with the model's fast tokenizer, sorted by their
real token count and cut into batches, so a batch pads only to its own longest
text; the graph already pools and normalises. A few texts (a query) run on a
session of their own with one thread, which answers in a few milliseconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from selfsim.encoders.base import ProgressCallback, versioned
from selfsim.encoders.onnx_export import OnnxBackend, exported_model
from selfsim.encoders.sentence import SMALL_INPUT, weights_digest
from selfsim.errors import NotFoundError


class OnnxEncoder:
    """A sentence-transformers model directory run by ONNX Runtime (``onnx``: fp32, ``onnx-int8``: int8 weights).

    ``version`` is the weights' digest with the backend appended, so a collection
    built by one backend is never searched with vectors of another.
    """

    def __init__(self, model_dir: str | Path, backend: OnnxBackend = "onnx-int8", name: str | None = None,
                 threads: int | None = None) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "modules.json").is_file():
            raise NotFoundError(f"{model_dir} is not a sentence-transformers model directory; "
                                "name a directory that holds modules.json and the weights.")
        self.model_dir = model_dir
        self.backend = backend
        self.name = name or str(model_dir.resolve())
        digest = weights_digest(model_dir)
        self.version = versioned(digest, backend)
        self.path = exported_model(model_dir, backend, digest)
        self.threads = threads or len(os.sched_getaffinity(0))
        self._tokenizer = _load_tokenizer(model_dir)
        self._batch_session = self._session(self.threads)
        self._query_session: object | None = None
        self.input_names = [node.name for node in self._batch_session.get_inputs()]
        self.dim = int(self._batch_session.get_outputs()[0].shape[-1])

    def _session(self, threads: int):  # noqa: ANN202 - onnxruntime has no type hints
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed ``texts`` into unit-length float32 vectors of shape ``(N, dim)``."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._batch_session
        if len(texts) <= SMALL_INPUT:  # a query: one thread is faster than waking several
            if self._query_session is None:
                self._query_session = self._session(1)
            session = self._query_session
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for first in range(0, len(texts), max(batch_size, 1)):
            picked = order[first:first + batch_size]
            feeds = _padded([encodings[i] for i in picked], int(lengths[picked].max()), self.input_names)
            out[picked] = session.run(None, feeds)[0]  # type: ignore[attr-defined]
            if progress is not None:
                progress(len(picked))
        # The graph normalises already; this only removes float rounding, as the torch path does.
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _padded(encodings: list, width: int, names: list[str]) -> dict[str, np.ndarray]:
    """Right-padded ``(B, T)`` int64 arrays of the inputs the graph takes."""
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        size = len(encoding.ids)
        ids[row, :size] = encoding.ids
        mask[row, :size] = 1
        types[row, :size] = encoding.type_ids
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: arrays[name] for name in names}


def _load_tokenizer(model_dir: Path):  # noqa: ANN202 - tokenizers.Tokenizer
    """The model's fast tokenizer, truncating where sentence-transformers does and not padding."""
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise NotFoundError(f"{model_dir} has no tokenizer.json; the ONNX backends need a fast tokenizer "
                            "(save the model with sentence-transformers, or use --backend torch).")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=_max_tokens(model_dir))
    return tokenizer


def _max_tokens(model_dir: Path) -> int:
    """sentence-transformers' ``max_seq_length``, capped by the model's positions and tokenizer limit."""
    limits = []
    for file, key in (("sentence_bert_config.json", "max_seq_length"), ("config.json", "max_position_embeddings"),
                      ("tokenizer_config.json", "model_max_length")):
        try:
            value = json.loads((model_dir / file).read_text()).get(key)
        except (OSError, ValueError):
            continue
        if isinstance(value, int) and 0 < value < 1_000_000:
            limits.append(value)
    return min(limits) if limits else 512
