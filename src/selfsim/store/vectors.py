"""Vector indexes: FAISS indexes over chunk ids, derived from the database and saved atomically.

An index is a handful of verbs (``add``, ``remove``, ``search``, ``save``,
``load``) and a FAISS spec string (``"Flat"``, ``"HNSW32"``, ``"IVF256,Flat"``,
``"IVF1024,PQ32"``), or ``"auto"``, which picks one by size (see
:func:`selfsim.indexes.auto_spec`). Scores are inner products of unit vectors, i.e. cosine
similarity. ``search`` returns fixed-shape ``(scores, ids)`` with ``-1`` where
there is no result, as FAISS does.

**Deletes.** Flat and IVF indexes drop vectors in place. An HNSW graph (and a
refined index) cannot, so a removed id becomes a *tombstone*: the vector stays
in the graph, where it still helps searches through, and every search leaves it
out with a FAISS selector. The tombstones are saved with the index, and once
they pass :data:`COMPACT_FRACTION` of it :attr:`VectorIndex.wants_compaction`
asks for a rebuild, so a deleted vector never comes back and the dead weight stays bounded.

**Filters.** A search restricted to a few allowed ids (see :data:`PREFILTER_BELOW`)
scores exactly those vectors, read from the index's own uncompressed storage,
instead of filtering inside a FAISS search that visits everything (Flat) or
loses its way among vectors it may not return (HNSW); larger allowed sets go
through a FAISS selector inside the search.

**VQ.** A ``VQ48`` spec (see :func:`selfsim.indexes.vq_spec`) makes a
:class:`~selfsim.store.vq_index.VQIndex` instead: selfsim's learned quantiser,
codes in memory, candidates re-ranked exactly from float vectors the collection
fetches from SQLite (the ``fetch`` given to :meth:`VectorIndex.build` and
:meth:`VectorIndex.load`). It has the same verbs and is saved the same way.

On disk an index is a file (a directory, for VQ) named after the store generation it reflects (plus
its tombstones, when it has any) and a small manifest that is replaced
atomically after the files are complete, so a crash mid-save leaves the
previous index in use and never a half-written one. Saves from many processes
are safe: see :meth:`VectorIndex.save`.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from selfsim.errors import ConfigError
from selfsim.indexes import (
    AUTO,
    new_index,
    planned_spec,
    spec_rank,
    spec_training_minimum,
    train_index,
    vq_spec,
)
from selfsim.store import faiss_layers
from selfsim.threads import single_threaded_faiss

MANIFEST = "index.json"
LOCK = "index.lock"
# fetch(chunk ids) -> (len(ids), dim) float32 stored vectors, a NaN row where a chunk is gone: how a VQ index
# reads the float vectors it re-ranks with (the store passes one that reads SQLite).
Fetch = Callable[[np.ndarray], np.ndarray]
# Multiply-adds below which a search runs on one thread (a query against up to ~1M vectors).
PARALLEL_WORK = 4e8
_FALLBACK_SPEC = "Flat"
# Tombstones past this fraction of the vectors an index stores trigger a rebuild. Until then a search
# walks past at most one dead vector in five (a little more graph to visit, the same recall for the
# live ones) and memory holds at most a quarter more than the live vectors need.
COMPACT_FRACTION = 0.2
# A filtered search scores the allowed vectors exactly (a pre-filter) when there are at most
# PREFILTER_PER_ROOT x sqrt(n) of them (n: the vectors in the index), or below PREFILTER_BELOW; otherwise it
# filters inside the FAISS search. Measured on one thread over the 100k MiniLM vectors of
# benchmarks/search_latency.py: the pre-filter costs ~0.5-1 us per allowed vector (FAISS reading just those
# rows in place). FAISS's selector on Flat tests every vector and scores the allowed ones: level with the
# pre-filter at 2k-5k allowed, ahead beyond (10k: 4.4 against 6.1 ms). On HNSW, a filter passing a share s
# of the vectors needs efSearch ~13 / s for recall@10 0.95 (2%: 512, 5%: 256, 10%: 128; at efSearch 128 a
# 1% filter kept recall 0.60), at ~12 us per unit of efSearch: ~150 us / s against the pre-filter's
# s x n us, level at s = sqrt(150 / n), i.e. ~12 sqrt(n) allowed vectors: 3,800 of 100k, 12,000 of 1M.
# At 1M (benchmarks/ann_scale.py) 1,000 allowed took 0.4 ms exact against 23 ms at recall 0.81 in the
# graph, and 10,000 took 9 ms exact against 7 ms at recall 0.92.
PREFILTER_PER_ROOT = 12.0
PREFILTER_BELOW = 1_000
# Inside the search, a filter passing a share s below FILTERED_SHARE multiplies efSearch (HNSW) and nprobe
# (IVF) by FILTERED_SHARE / s: a graph walk or a probed list yields only ~s of its usual candidates.
FILTERED_SHARE = 0.1
MAX_FILTERED_EF = 4096


class VectorIndex:
    """A FAISS index keyed by chunk id (a ``VQ`` spec builds the subclass :class:`~selfsim.store.vq_index.VQIndex`).

    ``spec`` is what the collection asked for; ``built_spec`` is what is in use: ``auto`` resolved by
    the size at build time, and exact ``Flat`` until there are enough vectors to train an index that
    needs training (IVF, PQ). ``deleted`` holds the tombstones of an index that cannot remove.
    """

    def __init__(self, spec: str, dim: int, index: faiss.Index, built_spec: str, generation: int = 0,
                 deleted: np.ndarray | None = None) -> None:
        self.spec = spec
        self.dim = dim
        self.index = index
        self.built_spec = built_spec
        self.generation = generation
        self._deleted = np.unique(np.asarray(deleted if deleted is not None else [], dtype=np.int64))
        self._lookup: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # see _stored_lookup
        self._deleted_selector: list | None = None  # the cached selector that hides the tombstones

    # -- building --------------------------------------------------------------------------------

    @staticmethod
    def check_spec(spec: str, dim: int = 384) -> None:
        """Raise a clear error if no index can be made from ``spec`` (``"auto"`` always can): FAISS's specs,
        and ``VQ`` specs whose codebooks split ``dim`` evenly."""
        parsed = vq_spec(spec)
        if parsed is not None:
            if dim % parsed.codebooks:
                raise ConfigError(f"{spec} cuts each vector into {parsed.codebooks} equal parts, which {dim} "
                                  f"dimensions do not allow; choose a number of codebooks that divides {dim} "
                                  "(48 for 384 dimensions).")
        elif spec != AUTO:
            new_index(spec, dim, "use auto, or a spec such as Flat, HNSW32, IVF256,Flat or VQ48")

    @classmethod
    def build(cls, spec: str, dim: int, ids: np.ndarray, vectors: np.ndarray,
              generation: int = 0, fetch: Fetch | None = None) -> VectorIndex:
        """A new index of ``spec`` holding ``vectors`` under ``ids`` (trained on them if needed).

        ``fetch`` reads stored float vectors by id, for the kinds that re-rank from them (``VQ``).
        """
        built_spec = planned_spec(spec, len(vectors), dim)
        if vq_spec(built_spec) is not None:
            from selfsim.store.vq_index import VQIndex  # a subclass: imported here, not at the top

            return VQIndex.build(spec, dim, ids, vectors, generation, fetch)
        index = new_index(built_spec, dim)
        if not index.is_trained:
            try:
                train_index(index, vectors, sample=_training_sample(index, len(vectors)))
            except RuntimeError:
                # Too few vectors to train yet: answer exactly until the collection has grown.
                index = new_index(_FALLBACK_SPEC, dim)
                built_spec = _FALLBACK_SPEC
        if not faiss_layers.takes_ids(index):
            index = faiss.IndexIDMap2(index)
        faiss_layers.tune(index)
        built = cls(spec, dim, index, built_spec, generation)
        built.add(ids, vectors)
        return built

    @property
    def wants_rebuild(self) -> bool:
        """True while the index in use stands in for another: an exact ``Flat`` while a spec that needs
        training waits for vectors, or an ``auto`` index not yet at the last kind it can grow into."""
        if self.spec == AUTO:
            return spec_rank(self.built_spec) < spec_rank("IVF")
        return self.built_spec != self.spec

    @property
    def outgrown(self) -> bool:
        """True when the index should be rebuilt because it has grown into another kind: enough vectors to
        train the spec asked for, or ``auto`` past a size threshold. Never true for a shrinking index, so a
        collection hovering around a threshold is not rebuilt back and forth."""
        return spec_rank(planned_spec(self.spec, self.size, self.dim)) > spec_rank(self.built_spec)

    def trainable_with(self, count: int) -> bool:
        """Whether ``count`` vectors are enough to train the index this spec asks for at that size."""
        spec = self.spec if self.spec != AUTO else planned_spec(AUTO, count, self.dim)
        return count >= spec_training_minimum(spec, self.dim)

    @property
    def size(self) -> int:
        """How many live vectors the index holds (stored ones less tombstones)."""
        return int(self.index.ntotal) - len(self._deleted)

    @property
    def deleted(self) -> int:
        """How many removed vectors are still stored as tombstones (always 0 where :attr:`can_remove`)."""
        return len(self._deleted)

    @property
    def wants_compaction(self) -> bool:
        """True when tombstones pass :data:`COMPACT_FRACTION` of the stored vectors: time to rebuild."""
        return len(self._deleted) > COMPACT_FRACTION * max(int(self.index.ntotal), 1)

    @property
    def knobs(self) -> dict[str, int]:
        """The search-time settings in use when a search names none (``ef_search``, ``nprobe``, ...)."""
        return faiss_layers.knobs(self.index)

    @property
    def details(self) -> dict[str, Any]:
        """What this kind of index can say about itself beyond its spec and size (a VQ index: bytes per
        vector, codebook usage); empty for FAISS's kinds."""
        return {}

    # -- verbs -----------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (N, dim) under ``ids`` (N,).

        An id that was removed from an index that cannot remove is refused (ValueError): its old vector is
        still stored, and taking the id back would return that one too. Chunk ids are never reused.
        """
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(self._deleted) and np.isin(ids, self._deleted).any():
            raise ValueError("an id removed from this index is being added again; rebuild the index instead.")
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._changed()

    @property
    def can_remove(self) -> bool:
        """Whether this kind of index can drop vectors in place (HNSW cannot: removed ids become tombstones)."""
        return faiss_layers.can_remove(self.index)

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids (ids not present are ignored); where the index cannot drop
        them they become tombstones that no search returns."""
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self.can_remove:
            self.index.remove_ids(faiss.IDSelectorBatch(ids))
            self._changed()
            return
        held = ids[self._positions(ids)[1]]
        if len(held):
            self._deleted = np.union1d(self._deleted, held)
            self._deleted_selector = None

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
               ef_search: int | None = None, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest ids per query row, restricted to ``allowed`` ids when given.

        ``ef_search`` (HNSW) and ``nprobe`` (IVF) override the index's defaults for this search (see
        :attr:`knobs`); a knob the index does not have is ignored. Returns ``(scores, ids)`` of shape
        ``(Q, k)``; missing results have id -1. Tombstones are never returned.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k <= 0 or self.size == 0:
            return _empty(len(queries), max(k, 0))
        selector = None
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if len(self._deleted):
                allowed = allowed[~np.isin(allowed, self._deleted)]
            if self.prefilters(len(allowed)):
                return self._exact_among(queries, k, allowed)
            selector = self._selector(allowed)
            ef_search, nprobe = self._widened(len(allowed), ef_search, nprobe)
        elif len(self._deleted):
            selector = self._hide_deleted()
        parameters = faiss_layers.search_parameters(self.index, selector, ef_search, nprobe)
        if len(queries) * self.size * self.dim < PARALLEL_WORK:
            with single_threaded_faiss():
                return self.index.search(queries, k, params=parameters.top)
        return self.index.search(queries, k, params=parameters.top)

    def prefilters(self, allowed: int) -> bool:
        """Whether a search restricted to ``allowed`` ids scores them exactly instead of filtering inside
        FAISS: when the index stores its vectors uncompressed and the allowed set is small (at most
        :data:`PREFILTER_PER_ROOT` x sqrt(size), or below :data:`PREFILTER_BELOW`)."""
        small = allowed <= max(PREFILTER_BELOW, PREFILTER_PER_ROOT * np.sqrt(max(self.size, 0)))
        return bool(small) and faiss_layers.flat_storage(self.index) is not None

    def _widened(self, allowed: int, ef_search: int | None, nprobe: int | None) -> tuple[int | None, int | None]:
        """``efSearch`` and ``nprobe`` for a search inside FAISS that may return only ``allowed`` of its
        vectors: scaled up by :data:`FILTERED_SHARE` over their share (see there)."""
        share = allowed / max(self.size, 1)
        if share >= FILTERED_SHARE:
            return ef_search, nprobe
        scale = FILTERED_SHARE / max(share, 1e-9)
        defaults = self.knobs  # only the knobs this index has: others are ignored anyway
        if "ef_search" in defaults:
            ef_search = min(int((ef_search or defaults["ef_search"]) * scale), MAX_FILTERED_EF)
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None:
            nprobe = min(int((nprobe or defaults["nprobe"]) * scale), int(ivf.nlist))
        return ef_search, nprobe

    def ids(self) -> np.ndarray:
        """Every live id the index holds, in storage order (an id added twice appears twice)."""
        stored = self._stored_ids()
        return stored[~np.isin(stored, self._deleted)] if len(self._deleted) else stored

    # -- internals -------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._lookup = None
        self._deleted_selector = None

    def _stored_ids(self) -> np.ndarray:
        """The id of every stored vector (tombstones included), in storage order."""
        if isinstance(self.index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is None:  # a bare index keys its vectors by position
            return np.arange(self.index.ntotal, dtype=np.int64)
        lists = ivf.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(number), lists.list_size(number)).copy()
                 for number in range(ivf.nlist) if lists.list_size(number)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, found)``: the storage position of each of ``ids`` that the index stores, and a
        mask of which ids those are (an id stored twice gives one of its positions)."""
        ordered, order, _ = self._stored_lookup()
        at = np.searchsorted(ordered, ids)
        found = at < len(ordered)
        found[found] = ordered[at[found]] == ids[found]
        return order[at[found]], found

    def _stored_lookup(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sorted stored ids, their positions, the stored ids in storage order)``, kept until the index
        next changes (sorting 1M ids takes ~0.1 s, so it is not redone per query)."""
        if self._lookup is None:
            stored = self._stored_ids()
            order = np.argsort(stored, kind="stable")
            self._lookup = (stored[order], order, stored)
        return self._lookup

    def _selector(self, ids: np.ndarray) -> faiss.IDSelector:
        """A selector of ``ids``, in the terms this index's search tests (ids, or storage positions)."""
        if faiss_layers.selector_is_internal(self.index):
            ids = self._positions(ids)[0]
        return _id_selector(ids)

    def _hide_deleted(self) -> faiss.IDSelector:
        """The selector that lets everything but the tombstones through, built once per change."""
        if self._deleted_selector is None:
            inner = self._selector(self._deleted)
            self._deleted_selector = [faiss.IDSelectorNot(inner), inner]  # the Not points at inner
        return self._deleted_selector[0]

    def _exact_among(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over just the ``allowed`` vectors, read in place from the index's uncompressed
        storage by FAISS (no copy of the rows, no BLAS thread pool: the work is a few thousand rows)."""
        storage = faiss_layers.flat_storage(self.index)
        assert storage is not None
        positions = np.ascontiguousarray(self._positions(np.unique(allowed))[0], dtype=np.int64)
        scores = np.empty((len(queries), k), dtype=np.float32)
        found = np.empty((len(queries), k), dtype=np.int64)
        with single_threaded_faiss():
            # ld_ids 0: every query row reads the same list of positions
            faiss.knn_inner_products_by_idx(
                faiss.swig_ptr(queries), faiss.swig_ptr(storage), faiss.swig_ptr(positions), self.dim,
                len(queries), len(storage), len(positions), k, faiss.swig_ptr(scores), faiss.swig_ptr(found), 0)
        missing = found < 0
        found = np.where(missing, -1, self._stored_lookup()[2][np.where(missing, 0, found)])
        scores[missing] = -np.inf
        return scores, found

    # -- persistence -----------------------------------------------------------------------------

    def save(self, directory: Path) -> bool:
        """Write the index (and its tombstones) and point the manifest at it, unless the manifest already
        points at a newer generation's index (then that one stays and this returns False).

        Any number of processes may save at once: a save runs whole under an exclusive lock on
        ``index.lock`` and writes files under names of its own, so the manifest is compared and
        swapped by one process at a time, and every file but the manifest, the files it points at
        and the lock is provably stale (left by a save that died) and removed.
        """
        directory.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        name = f"vectors-{self.generation:012d}-{token}{self._suffix}"
        deleted_name = f"vectors-{self.generation:012d}-{token}.deleted.npy" if len(self._deleted) else None
        with _locked(directory, exclusive=True):
            current = _read_manifest(directory)
            if (current is not None and int(current["generation"]) > self.generation
                    and (directory / str(current["file"])).exists()):  # a file, or a VQ index's directory
                return False
            temporary = directory / f"{name}.tmp"
            self._write(temporary)  # complete and synced before it takes its name
            os.replace(temporary, directory / name)
            if deleted_name is not None:
                temporary = directory / f"{deleted_name}.tmp"
                with temporary.open("wb") as handle:
                    np.save(handle, self._deleted, allow_pickle=False)
                _fsync(temporary)
                os.replace(temporary, directory / deleted_name)
            manifest = {"file": name, "generation": self.generation, "spec": self.spec,
                        "built_spec": self.built_spec, "dim": self.dim, "size": self.size,
                        "deleted": len(self._deleted), "deleted_file": deleted_name, "kind": self._kind}
            temporary_manifest = directory / f"{MANIFEST}.{token}.tmp"
            temporary_manifest.write_text(json.dumps(manifest, indent=2))
            _fsync(temporary_manifest)
            os.replace(temporary_manifest, directory / MANIFEST)
            for path in directory.iterdir():
                if (path.name not in (MANIFEST, name, deleted_name, LOCK)
                        and path.name.startswith(("vectors-", MANIFEST))):
                    if path.is_dir():  # a VQ index's directory (or one a dead save left half written)
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
            _fsync_directory(directory)
        return True

    _kind = "faiss"  # the manifest's "kind": which class reads the file back
    _suffix = ".faiss"

    def _write(self, path: Path) -> None:
        """Write the index itself to ``path`` (a new name), durably: :meth:`save` then renames it into place."""
        faiss.write_index(self.index, str(path))
        _fsync(path)

    @classmethod
    def load(cls, directory: Path, fetch: Fetch | None = None) -> VectorIndex | None:
        """The index the manifest points at, or None when there is none (or it cannot be read).

        Reads under a shared lock, so a concurrent save cannot delete the files between the
        manifest naming them and FAISS reading them. ``fetch`` is as for :meth:`build`.
        """
        if not (directory / MANIFEST).is_file():
            return None
        try:
            with _locked(directory, exclusive=False):
                manifest = _read_manifest(directory)
                if manifest is None:
                    return None
                if manifest.get("kind") == "vq":
                    from selfsim.store.vq_index import VQIndex

                    return VQIndex.read(directory, manifest, fetch)
                index = faiss.read_index(str(directory / manifest["file"]))
                deleted = None
                if manifest.get("deleted_file"):
                    deleted = np.load(directory / str(manifest["deleted_file"]), allow_pickle=False)
                    if deleted.ndim != 1 or deleted.dtype != np.int64:
                        return None
            built = cls(manifest["spec"], int(manifest["dim"]), index, manifest["built_spec"],
                        int(manifest["generation"]), deleted)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None  # a cache that cannot be read is rebuilt from the database
        faiss_layers.tune(index)
        return built


def _training_sample(index: faiss.Index, count: int) -> int | None:
    """How many of ``count`` vectors to train ``index`` on (None: all of them).

    64 vectors per inverted list (at least 65,536, which also fills a PQ codebook's k-means): FAISS's own
    k-means would draw 256 per list, four times the work for lists that are no better for search
    (it warns only below 39), which for 4,096 lists is minutes of a rebuild on two cores.
    """
    ivf = faiss.try_extract_index_ivf(index)
    wanted = max(64 * int(ivf.nlist), 65_536) if ivf is not None else 65_536
    return wanted if count > wanted else None


def _empty(queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.full((queries, k), -np.inf, dtype=np.float32), np.full((queries, k), -1, dtype=np.int64))


def _id_selector(ids: np.ndarray) -> faiss.IDSelector:
    """A selector of ``ids``: a bitmap when the largest id is small next to how many there are (testing a
    bit is cheaper than a hash lookup, and building it is a numpy pass), a hash set otherwise."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if len(ids) and ids.min() >= 0 and int(ids.max()) // 8 < 16 * len(ids):
        bits = np.zeros(int(ids.max()) + 1, dtype=bool)
        bits[ids] = True
        return faiss.IDSelectorBitmap(np.packbits(bits, bitorder="little"))
    return faiss.IDSelectorBatch(ids)


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
