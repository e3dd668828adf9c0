"""Vector indexes: FAISS indexes over chunk ids, derived from the database and saved atomically.

An index is a handful of verbs (``add``, ``remove``, ``search``, ``save``,
``load``) and a FAISS spec string (``"Flat"``, ``"HNSW32"``, ``"IVF256,Flat"``,
``"IVF1024,PQ32"``). Scores are inner products of unit vectors, i.e. cosine
similarity. ``search`` returns fixed-shape ``(scores, ids)`` with ``-1`` where
there is no result, as FAISS does.

On disk an index is a file named after the store generation it reflects plus
a small manifest that is replaced atomically after the file is complete, so a
crash mid-save leaves the previous index in use and never a half-written one.
Saves from many processes are safe: see :meth:`VectorIndex.save`.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from selfsim.indexes import new_index, train_index
from selfsim.threads import single_threaded_faiss

MANIFEST = "index.json"
LOCK = "index.lock"
# Multiply-adds below which a search runs on one thread (a query against up to ~1M vectors).
PARALLEL_WORK = 4e8
_FALLBACK_SPEC = "Flat"


def _make_selector(allowed: np.ndarray) -> faiss.IDSelector:
    return faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))


class VectorIndex:
    """A FAISS index keyed by chunk id.

    ``spec`` is what the collection asked for; ``built_spec`` is what is in
    use, which is exact ``Flat`` until there are enough vectors to train an
    index that needs training (IVF, PQ).
    """

    def __init__(self, spec: str, dim: int, index: faiss.Index, built_spec: str, generation: int = 0) -> None:
        self.spec = spec
        self.dim = dim
        self.index = index
        self.built_spec = built_spec
        self.generation = generation

    # -- building --------------------------------------------------------------------------------

    @staticmethod
    def check_spec(spec: str, dim: int = 384) -> None:
        """Raise a clear error if FAISS cannot make an index from ``spec``."""
        new_index(spec, dim)

    @classmethod
    def build(cls, spec: str, dim: int, ids: np.ndarray, vectors: np.ndarray,
              generation: int = 0) -> VectorIndex:
        """A new index of ``spec`` holding ``vectors`` under ``ids`` (trained on them if needed)."""
        index = new_index(spec, dim)
        built_spec = spec
        if not index.is_trained:
            try:
                if len(vectors) < _training_minimum(index):
                    raise RuntimeError("too few vectors")
                train_index(index, vectors)
            except RuntimeError:
                # Too few vectors to train yet: answer exactly until the collection has grown.
                index = new_index(_FALLBACK_SPEC, dim)
                built_spec = _FALLBACK_SPEC
        if not _takes_ids(index):
            index = faiss.IndexIDMap2(index)
        _tune(index)
        built = cls(spec, dim, index, built_spec, generation)
        built.add(ids, vectors)
        return built

    @property
    def wants_rebuild(self) -> bool:
        """True while a trained index was asked for but an exact stand-in is in use."""
        return self.built_spec != self.spec

    def trainable_with(self, count: int) -> bool:
        """Whether ``count`` vectors are enough to train an index of this spec."""
        return count >= _training_minimum(new_index(self.spec, self.dim))

    @property
    def size(self) -> int:
        """How many vectors the index holds."""
        return int(self.index.ntotal)

    # -- verbs -----------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (N, dim) under ``ids`` (N,)."""
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.ascontiguousarray(ids, dtype=np.int64))

    @property
    def can_remove(self) -> bool:
        """Whether this kind of index can drop vectors in place (HNSW cannot: it is rebuilt)."""
        inner = faiss.downcast_index(self.index.index) if isinstance(self.index, faiss.IndexIDMap2) else self.index
        return not isinstance(inner, faiss.IndexHNSW)

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids (ids not present are ignored)."""
        if len(ids):
            self.index.remove_ids(_make_selector(ids))

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest ids per query row, restricted to ``allowed`` ids when given.

        Returns ``(scores, ids)`` of shape ``(Q, k)``; missing results have id -1.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k <= 0 or self.size == 0:
            return (np.full((len(queries), max(k, 0)), -np.inf, dtype=np.float32),
                    np.full((len(queries), max(k, 0)), -1, dtype=np.int64))
        params = None
        if allowed is not None:
            params = _search_parameters(self.index, _make_selector(allowed))
        if len(queries) * self.size * self.dim < PARALLEL_WORK:
            with single_threaded_faiss():
                return self.index.search(queries, k, params=params)
        return self.index.search(queries, k, params=params)

    def ids(self) -> np.ndarray:
        """Every id the index holds, in storage order (an id added twice appears twice)."""
        if isinstance(self.index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        ivf = faiss.extract_index_ivf(self.index)
        lists = ivf.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(number), lists.list_size(number)).copy()
                 for number in range(ivf.nlist) if lists.list_size(number)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    # -- persistence -----------------------------------------------------------------------------

    def save(self, directory: Path) -> bool:
        """Write the index and point the manifest at it, unless the manifest already points at a
        newer generation's index (then that one stays and this returns False).

        Any number of processes may save at once: a save runs whole under an exclusive lock on
        ``index.lock`` and writes files under names of its own, so the manifest is compared and
        swapped by one process at a time, and every file but the manifest, the file it points at
        and the lock is provably stale (left by a save that died) and removed.
        """
        directory.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        name = f"vectors-{self.generation:012d}-{token}.faiss"
        temporary = directory / f"{name}.tmp"
        with _locked(directory, exclusive=True):
            current = _read_manifest(directory)
            if (current is not None and int(current["generation"]) > self.generation
                    and (directory / str(current["file"])).is_file()):
                return False
            faiss.write_index(self.index, str(temporary))
            _fsync(temporary)
            os.replace(temporary, directory / name)
            manifest = {"file": name, "generation": self.generation, "spec": self.spec,
                        "built_spec": self.built_spec, "dim": self.dim, "size": self.size}
            temporary_manifest = directory / f"{MANIFEST}.{token}.tmp"
            temporary_manifest.write_text(json.dumps(manifest, indent=2))
            _fsync(temporary_manifest)
            os.replace(temporary_manifest, directory / MANIFEST)
            for path in directory.iterdir():
                if path.name not in (MANIFEST, name, LOCK) and path.name.startswith(("vectors-", MANIFEST)):
                    path.unlink(missing_ok=True)
            _fsync_directory(directory)
        return True

    @classmethod
    def load(cls, directory: Path) -> VectorIndex | None:
        """The index the manifest points at, or None when there is none (or it cannot be read).

        Reads under a shared lock, so a concurrent save cannot delete the file between the
        manifest naming it and FAISS reading it.
        """
        if not (directory / MANIFEST).is_file():
            return None
        try:
            with _locked(directory, exclusive=False):
                manifest = _read_manifest(directory)
                if manifest is None:
                    return None
                index = faiss.read_index(str(directory / manifest["file"]))
            built = cls(manifest["spec"], int(manifest["dim"]), index, manifest["built_spec"],
                        int(manifest["generation"]))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None  # a cache that cannot be read is rebuilt from the database
        _tune(index)
        return built


def _read_manifest(directory: Path) -> dict | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and "file" in manifest and "generation" in manifest else None


@contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """An advisory lock on ``directory/index.lock`` (released when the process dies, so never stale)."""
    with open(directory / LOCK, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _takes_ids(index: faiss.Index) -> bool:
    return faiss.try_extract_index_ivf(index) is not None


def _training_minimum(index: faiss.Index) -> int:
    ivf = faiss.try_extract_index_ivf(index)
    return max(int(ivf.nlist) if ivf is not None else 1, 256 if "PQ" in type(index).__name__ else 1)


def _tune(index: faiss.Index) -> None:
    """Search-time settings that favour recall; both are cheap at the sizes selfsim targets."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = min(int(ivf.nlist), 32)
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = 128


def _search_parameters(index: faiss.Index, selector: faiss.IDSelector) -> faiss.SearchParameters:
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return faiss.SearchParametersIVF(sel=selector, nprobe=int(ivf.nprobe))
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=int(inner.hnsw.efSearch))
    return faiss.SearchParameters(sel=selector)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable (a power cut could otherwise undo them)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
