"""Encoder backends: ONNX Runtime (fp32 and int8) against the PyTorch encoder, on a tiny real model.

The tiny model (a random 2-layer BERT, see tiny_text.py) goes through the same
export, fusion and quantisation as the bundled MiniLM; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS
from typer.testing import CliRunner

from selfsim.app import Collection, load_encoder
from selfsim.cli.main import app
from selfsim.encoders.base import backend_of, check_backend, versioned
from selfsim.encoders.onnx_export import EXPORT_DIR, MANIFEST
from selfsim.errors import ConfigError

TEXTS = TINY_TEXTS + TINY_DOCUMENTS + ["cells", "The cat sat on the mat. " * 20]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.mark.parametrize(("backend", "least"), [("onnx", 0.99), ("onnx-int8", 0.98)])
def test_onnx_backends_agree_with_torch_per_text(tiny_model_dir: Path, backend: str, least: float) -> None:
    reference = load_encoder(str(tiny_model_dir), "torch").encode(TEXTS)
    onnx = load_encoder(str(tiny_model_dir), backend)  # type: ignore[arg-type]
    vectors = onnx.encode(TEXTS, batch_size=4)  # several batches of different widths
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert _cosines(vectors, reference).min() >= least
    # A query (a few texts) runs on the one-thread session: the same vectors as in a batch (int8 up to
    # its activation scale, which dynamic quantisation takes from each batch).
    assert _cosines(onnx.encode(TEXTS[:2]), vectors[:2]).min() >= 0.9999
    assert onnx.encode([]).shape == (0, onnx.dim)


def test_export_is_cached_beside_the_weights_and_keyed_by_them(tiny_model_dir: Path) -> None:
    encoder = load_encoder(str(tiny_model_dir), "onnx-int8")
    export = tiny_model_dir / EXPORT_DIR
    manifest = json.loads((export / MANIFEST).read_text())
    torch_version = load_encoder(str(tiny_model_dir), "torch").version
    assert manifest["weights"] == torch_version
    assert encoder.version == f"{torch_version}+onnx-int8"
    stamp = (export / "model-int8.onnx").stat().st_mtime_ns
    from selfsim.encoders.onnx_runtime import OnnxEncoder

    OnnxEncoder(tiny_model_dir, "onnx-int8")  # a new process would find the export and reuse it
    assert (export / "model-int8.onnx").stat().st_mtime_ns == stamp
    assert not [p for p in export.iterdir() if p.name.endswith(".tmp")]


def test_versions_name_their_backend() -> None:
    assert versioned("abc", "torch") == "abc" and backend_of("abc") == "torch"
    assert versioned("abc", "onnx-int8") == "abc+onnx-int8" and backend_of("abc+onnx-int8") == "onnx-int8"
    with pytest.raises(ConfigError, match="unknown backend 'gpu'"):
        check_backend("gpu")
    with pytest.raises(ConfigError, match="use one of torch, onnx, onnx-int8"):
        load_encoder("all-MiniLM-L6-v2", "tensorrt")  # type: ignore[arg-type]


def test_a_collection_remembers_its_backend_and_refuses_another(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "notes"
    with Collection.create(path, encoder=str(tiny_model_dir), backend="onnx-int8") as notes:
        notes.add([{"id": str(i), "text": text} for i, text in enumerate(TINY_TEXTS)])
        assert notes.backend == "onnx-int8"
    with Collection.open(path) as notes:  # reopened: queries are encoded by the same backend
        assert notes.encoder.version.endswith("+onnx-int8")
        assert notes.search(TINY_TEXTS[0], k=1, mode="dense")[0].score > 0.999  # its own stored vector
    with pytest.raises(ConfigError, match="backends are not mixed"):
        Collection.open(path, encoder=load_encoder(str(tiny_model_dir), "torch"))
    with Collection.open(path) as notes:
        assert notes.set_backend("torch") == len(TINY_TEXTS)
        assert notes.backend == "torch" and notes.info()["backend"] == "torch"
        assert notes.info()["index_agrees"]
        assert notes.search(TINY_TEXTS[0], k=1, mode="dense")[0].score > 0.999
        with pytest.raises(ConfigError, match="already uses the torch backend"):
            notes.set_backend("torch")


def test_cli_index_refuses_to_mix_backends_without_reindex(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "notes.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(TINY_TEXTS)))
    runner = CliRunner()
    path = str(tmp_path / "notes")
    first = runner.invoke(app, ["index", path, str(data), "--encoder", str(tiny_model_dir), "--backend", "onnx"])
    assert first.exit_code == 0, first.output
    refused = runner.invoke(app, ["index", path, str(data), "--backend", "onnx-int8"])
    assert refused.exit_code != 0 and isinstance(refused.exception, ConfigError)
    assert "built with the onnx backend; pass --reindex" in str(refused.exception)
    again = runner.invoke(app, ["index", path, str(data), "--backend", "onnx-int8", "--reindex"])
    assert again.exit_code == 0, again.output
    assert "re-encoded 12 chunks with the onnx-int8 backend" in again.output
    unknown = runner.invoke(app, ["index", path, str(data), "--backend", "cuda"])
    assert unknown.exit_code != 0 and "unknown backend 'cuda'" in str(unknown.exception)
    with Collection.open(path) as notes:
        assert notes.backend == "onnx-int8" and len(notes) == len(TINY_TEXTS)
