"""A collection directory: the SQLite database plus the vector index derived from it.

The :class:`Store` offers the primitives the tasks build on (put, get,
delete, iterate, nearest items under a filter, keyword matches under a filter,
the generation counter) and keeps the vector index in step with the database:
opening a collection whose saved index is behind applies the changes since
(or rebuilds the index), and every query first catches up with writes that
another process may have committed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.config import CollectionConfig
from selfsim.errors import ConfigError
from selfsim.store.browse import FieldGroup, ItemPage, field_groups, field_values, page_items
from selfsim.store.database import Database, PreparedItem, StoredItem
from selfsim.store.filter_cache import FilterCache
from selfsim.store.filters import Filter, compile_filter
from selfsim.store.integrity import CheckReport, IndexAgreement, compare
from selfsim.store.interactions import InteractionStore
from selfsim.store.keys import KeyStore
from selfsim.store.labels import LabelStore
from selfsim.store.results import (
    ChunkSpan,
    ChunkText,
    EncoderInfo,
    ItemChunk,
    ItemVectors,
    KeywordMatch,
    NearestItem,
    VectorBatch,
)
from selfsim.store.vectors import VectorIndex

DATABASE_FILE = "collection.sqlite"
INDEX_DIR = "index"
# Generations of deletions kept after the saved index reflects them, for open indexes still behind.
TOMBSTONE_RETENTION = 1000


@dataclass(frozen=True)
class Deleted:
    """What a deletion did: the ids that were not there, and the generation it committed as."""

    missing: list[str]
    generation: int | None


class Store:
    """The source of truth (SQLite) and its vector index, for one encoder's vectors."""

    def __init__(self, directory: Path, database: Database) -> None:
        self.directory = directory
        self._database = database  # private: callers go through the Store's methods and properties
        self._lock = threading.RLock()
        self._index: VectorIndex | None = None
        self._dirty = False  # the in-memory index differs from the saved one
        self._wrote = False  # this process committed writes the index has not seen yet
        self._closed = False
        self._filters = FilterCache()

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | Path, config: CollectionConfig, encoder_name: str,
               encoder_version: str, dim: int) -> Store:
        """Make a new, empty collection directory."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ConfigError(f"{directory} is a file, not a collection directory; name a directory "
                              "(the collection comes first: selfsim index COLLECTION FILE...).")
        VectorIndex.check_spec(config.index, dim)
        directory.mkdir(parents=True, exist_ok=True)
        database = Database.create(directory / DATABASE_FILE, config)
        database.register_encoder(encoder_name, encoder_version, dim)
        return cls(directory, database)

    @classmethod
    def open(cls, directory: str | Path) -> Store:
        """Open an existing collection directory."""
        directory = Path(directory)
        return cls(directory, Database.open(directory / DATABASE_FILE))

    def close(self) -> None:
        """Bring the index up to date and save it if this process changed anything, then close."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._wrote or self._index is not None:
                    self.sync()
                    self.save_index()
            finally:
                self._database.close()

    @property
    def config(self) -> CollectionConfig:
        """The collection's configuration."""
        return self._database.config

    @property
    def generation(self) -> int:
        """The store generation: the number of committed writes."""
        return self._database.generation

    @property
    def encoder(self) -> EncoderInfo:
        """``(id, name, version, dim)`` of the encoder whose vectors are indexed."""
        active = self._database.active_encoder
        if active is None:
            raise ConfigError(f"{self.directory} has no encoder recorded; re-create the collection.")
        return active

    @property
    def keys(self) -> KeyStore:
        """The collection's API keys for the HTTP service (writes hold the store's lock)."""
        return KeyStore(self._database, self._lock)

    @property
    def labels(self) -> LabelStore:
        """The collection's label sets (human, pseudo, weak and predicted labels)."""
        return LabelStore(self._database)

    @property
    def interactions(self) -> InteractionStore:
        """The collection's interaction events and the user vectors recommenders learned."""
        return InteractionStore(self._database)

    @property
    def database_path(self) -> Path:
        """The collection's SQLite file (for tools that inspect it; the store itself is the way in)."""
        return self._database.path

    # -- writes ----------------------------------------------------------------------------------

    def put(self, items: Sequence[PreparedItem], *, replace: bool) -> int:
        """Write items in one transaction (replacing existing ids when ``replace``); returns the generation."""
        with self._lock:
            generation = self._database.write_items(items, self.encoder[0], replace=replace)
            self._wrote = True
        return generation

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Merge metadata fields into items by id (None removes a field); returns unknown ids."""
        with self._lock:
            _, missing = self._database.update_metadata(updates)
        return missing

    def delete(self, ids: Sequence[str]) -> Deleted:
        """Delete items by id in one transaction; says which ids were not there and the generation
        the deletion committed as (None when none of the ids existed, so nothing was written)."""
        with self._lock:
            generation, missing = self._database.delete_items(ids)
            wrote = len(set(missing)) < len(set(ids))
            self._wrote = self._wrote or wrote
        return Deleted(missing, generation if wrote else None)

    # -- reads -----------------------------------------------------------------------------------

    def get(self, item_id: str) -> StoredItem | None:
        """The item with this id, or None."""
        return self._database.get_item(item_id)

    def iterate(self, filter: Filter | None = None) -> Iterator[StoredItem]:
        """Every item passing ``filter``."""
        return self._database.iter_items(filter)

    def count(self) -> int:
        """How many items there are."""
        return self._database.count_items()

    def items_by_key(self, keys: Sequence[int], filter: Filter | None = None) -> dict[int, StoredItem]:
        """Items by internal key (only those passing ``filter``, when given)."""
        return self._database.items_by_key(keys, filter)

    def page(self, filter: Filter | None = None, offset: int = 0, limit: int = 50) -> ItemPage:
        """Items ``offset`` to ``offset + limit`` passing ``filter``, with how many pass it."""
        with self._lock:
            return page_items(self._database, filter, offset, limit)

    def field_groups(self, field: str, detail: str | None = None) -> list[FieldGroup]:
        """The values of metadata ``field`` with their item counts (see :func:`selfsim.store.browse.field_groups`)."""
        with self._lock:
            return field_groups(self._database, field, detail)

    def field_values(self, field: str) -> dict[str, Any]:
        """Each item's value of metadata ``field`` by id (see :func:`selfsim.store.browse.field_values`)."""
        with self._lock:
            return field_values(self._database, field)

    def item_vector(self, item_id: str) -> np.ndarray | None:
        """The item's unit vector (the normalised mean of its chunk vectors), or None for an unknown id."""
        with self.snapshot():
            item = self._database.get_item(item_id)
            if item is None:
                return None
            chunk_ids = [chunk.chunk_id for chunk in self._database.chunks_of([item.key]).get(item.key, [])]
            parts = [vectors for _, vectors in self._database.vectors(self.encoder[0], chunk_ids)]
        vector = np.concatenate(parts).sum(axis=0) if parts else np.zeros(self.encoder[3], dtype=np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state of the collection (see :meth:`Database.snapshot`).

        Holds the store's lock too: the connection is shared by this process's threads, and a write
        transaction cannot begin on it while a read transaction is open.
        """
        with self._lock, self._database.snapshot():
            yield

    def chunk_items(self, chunk_ids: Sequence[int]) -> dict[int, ChunkSpan]:
        """For each chunk id: ``(item_key, position, start, end)``."""
        return self._database.chunk_items(chunk_ids)

    def chunks_of(self, keys: Sequence[int]) -> dict[int, list[ItemChunk]]:
        """For each item key: its chunks as ``(chunk_id, position, start, end)``."""
        return self._database.chunks_of(keys)

    def item_vectors(self, filter: Filter | None = None) -> ItemVectors:
        """One unit vector per item passing ``filter``: the normalised mean of its chunk vectors.

        Returns ``(ids, vectors)`` with ``vectors`` of shape ``(len(ids), dim)``, in item order.
        """
        encoder_id, _, _, dim = self.encoder
        chunk_ids = self._database.chunk_ids_matching(filter)
        owners = self._database.chunk_items(chunk_ids.tolist()) if len(chunk_ids) else {}
        owner_of = {chunk_id: owner.item_key for chunk_id, owner in owners.items()}
        keys = np.array(sorted(set(owner_of.values())), dtype=np.int64)
        matrix = np.zeros((len(keys), dim), dtype=np.float32)
        has_vector = np.zeros(len(keys), dtype=bool)
        for ids, vectors in self._database.vectors(encoder_id, chunk_ids.tolist()):
            rows = np.searchsorted(keys, np.array([owner_of[c] for c in ids.tolist()], dtype=np.int64))
            np.add.at(matrix, rows, vectors)  # chunk vectors summed into their item's row
            has_vector[rows] = True
        keys, matrix = keys[has_vector], matrix[has_vector]
        items = self._database.items_by_key(keys.tolist())
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return ItemVectors([items[k].id for k in keys.tolist()], matrix)

    def vectors(self, chunk_ids: Sequence[int] | None = None) -> Iterator[VectorBatch]:
        """Batches of the active encoder's stored chunk vectors: all of them, or those of ``chunk_ids``."""
        return self._database.vectors(self.encoder.id, chunk_ids)

    def chunk_ids(self) -> np.ndarray:
        """The id of every stored chunk, ascending."""
        return self._database.chunk_ids()

    def count_chunks(self) -> int:
        """How many chunks there are."""
        return self._database.count_chunks()

    # -- a new encoder's vectors -----------------------------------------------------------------

    def register_encoder(self, name: str, version: str, dim: int) -> int:
        """The id of the encoder ``(name, version)``, recording it if new (it does not become active)."""
        with self._lock:
            return self._database.register_encoder(name, version, dim)

    def chunks_without_embeddings(self, encoder_id: int, limit: int = 1000) -> list[ChunkText]:
        """Up to ``limit`` chunks that have no vector from ``encoder_id`` yet."""
        return self._database.chunks_without_embeddings(encoder_id, limit)

    def put_embeddings(self, encoder_id: int, chunk_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store vectors of an encoder that is not (yet) the active one; search keeps answering from the
        active encoder's vectors until :meth:`switch_encoder`."""
        with self._lock:
            self._database.put_embeddings(encoder_id, chunk_ids, vectors)

    # -- the vector index ------------------------------------------------------------------------

    @property
    def index(self) -> VectorIndex:
        """The vector index, brought up to date with the database."""
        with self._lock:
            self.sync()
            assert self._index is not None
            return self._index

    def sync(self) -> None:
        """Bring the in-memory vector index up to the database's generation.

        The generation, the deletions still remembered and the changes since the index's own
        generation are read in one snapshot, so a writer committing meanwhile is neither half
        applied nor applied twice. An index older than the forgotten deletions cannot be caught
        up (it would keep their vectors as ghosts), so it is rebuilt.
        """
        with self._lock, self._database.snapshot():
            generation = self._database.generation
            if self._index is None:
                self._index = VectorIndex.load(self.directory / INDEX_DIR, fetch=self._stored_vectors)
                if self._index is not None and not self._usable(self._index):
                    self._index = None
                if self._index is None:
                    self.rebuild_index()
                    return
            index = self._index
            if index.generation == generation and not index.outgrown:
                return
            if not self._usable(index):
                self.rebuild_index()
                return
            changes = self._database.changes_since(index.generation, self.encoder[0])
            index.remove(changes.removed_ids)  # tombstones where the index cannot drop vectors
            try:
                index.add(changes.added_ids, changes.added_vectors)
            except ValueError:  # an id it holds a tombstone of: only a fresh index can take it
                self.rebuild_index()
                return
            index.generation = generation
            self._dirty = True
            if index.outgrown or index.wants_compaction:
                # Grown into another kind (enough vectors to train the spec asked for, or auto past a
                # size threshold), or tombstones piled up: a fresh index from the stored vectors.
                self.rebuild_index()

    def _usable(self, index: VectorIndex) -> bool:
        """Whether ``index`` can be caught up: same spec and dimension, and no deletion after its
        generation forgotten."""
        return (index.spec == self.config.index and index.dim == self.encoder[3]
                and self._database.pruned_to <= index.generation <= self._database.generation)

    def rebuild_index(self, spec: str | None = None) -> None:
        """Build the vector index afresh from the stored vectors (with a new ``spec`` if given)."""
        with self._lock:
            if spec is not None and spec != self.config.index:
                VectorIndex.check_spec(spec, self.encoder[3])
                config = self.config
                self._database.set_config(CollectionConfig(config.encoder, spec, config.chunking))
            with self._database.snapshot():  # the vectors read are exactly those of `generation`
                generation = self._database.generation
                batches = list(self._database.vectors(self.encoder[0]))
            dim = self.encoder[3]
            ids = np.concatenate([b[0] for b in batches]) if batches else np.zeros(0, dtype=np.int64)
            vectors = (np.concatenate([b[1] for b in batches]) if batches
                       else np.zeros((0, dim), dtype=np.float32))
            self._index = VectorIndex.build(self.config.index, dim, ids, vectors, generation,
                                            fetch=self._stored_vectors)
            self._dirty = True

    def _stored_vectors(self, chunk_ids: np.ndarray) -> np.ndarray:
        """The active encoder's vectors of ``chunk_ids`` (distinct) in that order, (len, dim), a NaN row for a
        chunk no longer stored: what a VQ index re-ranks its candidates with (read under the lock, so never
        from a write transaction half done on the shared connection)."""
        chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        order = np.argsort(chunk_ids, kind="stable")
        ordered = chunk_ids[order]
        with self._lock:
            encoder_id, dim = self.encoder[0], self.encoder[3]
            found = np.full((len(chunk_ids), dim), np.nan, dtype=np.float32)
            for ids, vectors in self._database.vectors(encoder_id, chunk_ids.tolist()):
                found[order[np.searchsorted(ordered, ids)]] = vectors
        return found

    def save_index(self) -> None:
        """Persist the index if it changed since it was last saved (unless another process saved a
        newer one meanwhile), and forget deletions old enough that no index needs them."""
        with self._lock:
            if self._index is None or not self._dirty:
                return
            self._index.save(self.directory / INDEX_DIR)
            self._dirty = False
            # Other processes' open indexes may still be catching up from older generations: keep
            # recent deletions so they can, instead of forcing each of them to rebuild.
            prune_to = min(self._index.generation, self._database.generation - TOMBSTONE_RETENTION)
            if prune_to > 0:
                self._database.prune_tombstones(prune_to)

    def agreement(self) -> IndexAgreement:
        """How the vector index (caught up, as every open sees it) compares with the stored chunks."""
        with self._lock, self._database.snapshot():
            index = self.index
            return compare(self._database.generation, self._database.chunk_ids(), index.ids())

    def check(self, repair: bool = False) -> CheckReport:
        """Run SQLite's integrity checks and compare the index with the store; with ``repair``,
        rebuild and save an index that disagrees. A damaged database cannot be repaired here."""
        with self._lock:
            problems = self._database.integrity_problems()
            before = self.agreement()
            notes: list[str] = []
            if problems:
                notes.append("the database file is damaged: restore it from a copy, or re-index the source "
                             "files into a new collection")
            if before.agrees or not repair:
                return CheckReport(problems, before, None, notes)
            self.rebuild_index()
            self.save_index()
            notes.append("the vector index was rebuilt from the stored vectors and saved")
            return CheckReport(problems, before, self.agreement(), notes)

    def switch_encoder(self, encoder_id: int, drop_old: bool = True) -> int:
        """Make ``encoder_id`` (whose vectors are all stored) the active encoder, rebuild the index from its
        vectors and save it; with ``drop_old`` the previous encoder's vectors are deleted afterwards.
        Returns the new generation. Until this commits, search answers from the old vectors."""
        with self._lock:
            old = self.encoder[0]
            generation = self._database.switch_encoder(encoder_id)
            self.rebuild_index()
            self.save_index()
            if drop_old and old != encoder_id:
                self._database.drop_embeddings(old)
        return generation

    # -- nearest neighbours and keyword matches --------------------------------------------------

    def chunk_ids_matching(self, filter: Filter | None) -> np.ndarray:
        """Ids of every chunk whose item passes ``filter`` (all chunks for no filter), from one committed state.

        The ids of recent filters are remembered until the next write (:mod:`selfsim.store.filter_cache`), and
        fields filtered on repeatedly are read from indexed tables instead of every item's JSON
        (:mod:`selfsim.store.filter_columns`). Safe to call from another thread, so a search can evaluate its
        filter while it encodes the query.
        """
        if not filter:
            return self._database.chunk_ids()
        where, params = compile_filter(filter)
        key = (where, repr(params))
        cached = self._filters.get(key, self._database.committed_generation())
        if cached is not None:
            return cached
        generation, ids = self._database.generation_and_chunk_ids(filter)
        self._filters.put(key, generation, ids)
        return ids

    @property
    def filters(self) -> FilterCache:
        """The cache of recent filters' chunk ids (see :meth:`chunk_ids_matching`); ``clear()`` forgets them."""
        return self._filters

    def forget_filters(self) -> None:
        """Forget what filters left behind: their cached chunk ids, and the field tables of every connection
        (dropped at its next filter), so the next filter on any field reads every item's JSON again."""
        self._filters.clear()
        self._database.field_epoch += 1

    def nearest_items(self, query: np.ndarray, k: int, filter: Filter | None = None, *,
                      ef_search: int | None = None, nprobe: int | None = None) -> list[NearestItem]:
        """The ``k`` items nearest ``query`` (a unit vector), among items passing ``filter``.

        Each result is ``(item_key, score, chunk_id)`` for the item's best chunk. The filter is
        applied inside the vector search, so ``k`` results come back whenever ``k`` items pass: a
        filter that passes few chunks scores just those exactly, a broader one filters inside the
        FAISS search (see :meth:`VectorIndex.search`). ``ef_search`` and ``nprobe`` override the
        index's search-time defaults (HNSW, IVF) for this query.
        """
        if k <= 0:
            return []
        index = self.index
        allowed = None if not filter else self.chunk_ids_matching(filter)
        available = index.size if allowed is None else len(allowed)
        if available == 0:
            return []
        fetch = min(available, max(2 * k, k + 16))
        while True:
            # Under the lock: a FAISS index is not safe to search while another thread's sync adds to it.
            with self._lock:
                scores, ids = index.search(query, fetch, allowed, ef_search=ef_search, nprobe=nprobe)
            found = int((ids[0] >= 0).sum())
            if allowed is not None and found < fetch:
                # An approximate index can lose filtered neighbours; score the allowed vectors exactly.
                scores, ids = self._exact(query, allowed, fetch)
            best = self._best_per_item(scores[0], ids[0])
            if len(best) >= k or fetch >= available:
                return best[:k]
            fetch = min(available, fetch * 4)

    def _exact(self, query: np.ndarray, allowed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        parts = list(self._database.vectors(self.encoder[0], allowed))
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1] for p in parts])
        scores = vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order][None, :], ids[order][None, :]

    def _best_per_item(self, scores: np.ndarray, ids: np.ndarray) -> list[NearestItem]:
        valid = ids >= 0
        owners = self._database.chunk_items(ids[valid].tolist())
        best: dict[int, NearestItem] = {}
        for score, chunk_id in zip(scores[valid].tolist(), ids[valid].tolist(), strict=True):
            owner = owners.get(chunk_id)
            if owner is None:
                continue  # a chunk deleted by a writer since the index was caught up
            key = owner.item_key
            if key not in best:  # results arrive best first, so the first chunk of an item is its best
                best[key] = NearestItem(key, score, chunk_id)
        return list(best.values())

    def keyword_items(self, match: str, k: int, filter: Filter | None = None) -> list[KeywordMatch]:
        """The ``k`` best ``(item_key, BM25 score)`` for an FTS5 MATCH expression under ``filter``."""
        return self._database.keyword(match, k, filter)

    def metadata_kinds(self, path: str, wanted: Sequence[str] = ()) -> set[str]:
        """JSON types of the metadata values at ``path``; see :meth:`Database.metadata_kinds`."""
        return self._database.metadata_kinds(path, wanted)
