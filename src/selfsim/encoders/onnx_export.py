"""Exporting a sentence-transformers model to ONNX, once, into a directory beside its weights.

The whole model (transformer, pooling, any dense layer, normalisation) becomes
one ONNX graph whose output is the sentence embedding, exported with
``torch.onnx`` from the same weights, so nothing is downloaded. ONNX Runtime's
transformer optimiser then fuses attention, layer norms and GELU, and the
``onnx-int8`` backend adds dynamic int8 quantisation of the weights.

Choices, measured on 2 AMD EPYC cores with AVX2 and no VNNI (STS-B dev sentences / SciFact abstracts):

* attention is exported in its eager form, because ONNX Runtime fuses that pattern into one
  ``Attention`` op (and ``QAttention`` once quantised) and does not recognise the SDPA export;
* int8 weights are signed, per output channel, with ``reduce_range`` (7-bit): without VNNI the
  u8 x s8 kernels add pairs of products in 16 bits, and full-range weights saturate them; plain
  per-tensor int8 gave a mean cosine to fp32 of 0.946 (worst 0.87), per-channel 7-bit 0.990;
* static (calibrated QDQ) quantisation and 4/8-bit ``MatMulNBits`` were both slower here.

Dynamic quantisation takes each activation's scale from the batch it is in, so an int8 vector
can differ from the same text's vector in another batch in the fifth decimal (cosine > 0.9999).

Exports are keyed by the weights' digest and written under a lock to temporary names that
are renamed into place, so concurrent processes export once and a crash leaves no half file.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from selfsim.errors import ConfigError

OnnxBackend = Literal["onnx", "onnx-int8"]
EXPORT_DIR = "onnx"
MANIFEST = "export.json"
FILES: dict[str, str] = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
OPSET = 17
# Bumped when the export recipe changes, so older exports are redone rather than reused.
RECIPE = 1


def exported_model(model_dir: Path, backend: OnnxBackend, digest: str) -> Path:
    """The ONNX file of ``backend`` for the model in ``model_dir`` (weights ``digest``), exported on first use.

    It lives in ``model_dir/onnx/`` when that directory can be written, else in the user's cache
    (``$SELFSIM_CACHE`` or ``~/.cache/selfsim``) under the digest.
    """
    if backend not in FILES:
        raise ConfigError(f"unknown ONNX backend {backend!r}; use one of {', '.join(FILES)}.")
    directory = _export_directory(model_dir, digest)
    target = directory / FILES[backend]
    if _current(directory, digest) and target.is_file():
        return target
    with _locked(directory):
        if not (_current(directory, digest) and target.is_file()):
            _export_all(model_dir, directory, digest)
    return target


def _export_directory(model_dir: Path, digest: str) -> Path:
    beside = model_dir / EXPORT_DIR
    try:
        beside.mkdir(exist_ok=True)
        probe = beside / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return beside
    except OSError:
        cache = Path(os.environ.get("SELFSIM_CACHE", Path.home() / ".cache" / "selfsim")) / "onnx" / digest
        cache.mkdir(parents=True, exist_ok=True)
        return cache


def _current(directory: Path, digest: str) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("weights") == digest and manifest.get("recipe") == RECIPE


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".export.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _export_all(model_dir: Path, directory: Path, digest: str) -> None:
    """Export fp32, optimise it, quantise that to int8, then record the manifest last."""
    token = f"{os.getpid()}"
    raw = directory / f"raw-{token}.onnx.tmp"
    fused = directory / f"fused-{token}.onnx.tmp"
    quantised = directory / f"int8-{token}.onnx.tmp"
    try:
        heads, hidden = _export_fp32(model_dir, raw)
        _optimise(raw, fused, heads, hidden)
        _quantise(fused, quantised)
        os.replace(fused, directory / FILES["onnx"])
        os.replace(quantised, directory / FILES["onnx-int8"])
        manifest = {"weights": digest, "recipe": RECIPE, "opset": OPSET, "files": FILES}
        (directory / f"{MANIFEST}.{token}.tmp").write_text(json.dumps(manifest, indent=2))
        os.replace(directory / f"{MANIFEST}.{token}.tmp", directory / MANIFEST)
    finally:
        for leftover in (raw, fused, quantised):
            leftover.unlink(missing_ok=True)


def _export_fp32(model_dir: Path, target: Path) -> tuple[int, int]:
    """Trace the sentence-transformers model to ONNX; returns ``(attention heads, hidden size)``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True,
                                model_kwargs={"attn_implementation": "eager"}).eval()
    tokenizer = model.tokenizer
    sample = tokenizer(["an example sentence", "another, slightly longer example sentence"],
                       padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class _Embedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, inputs, strict=True)))["sentence_embedding"]

    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape checks that hold for every input
        torch.onnx.export(_Embedding(), tuple(sample[name] for name in names), str(target), input_names=names,
                          output_names=["embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    config = model[0].auto_model.config
    return int(getattr(config, "num_attention_heads", 0)), int(getattr(config, "hidden_size", 0))


def _optimise(source: Path, target: Path, heads: int, hidden: int) -> None:
    """Fuse attention, layer norms and GELU (a model the fuser does not know is saved as it is)."""
    import logging

    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimised = optimizer.optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden)
    optimised.save_model_to_file(str(target))


def _quantise(source: Path, target: Path) -> None:
    import logging

    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises pre-processing through the root logger on every call
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        root.setLevel(level)
