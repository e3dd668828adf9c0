"""Sharded vector search on Ray: the index split into shards held by actors, queries scattered, top-k merged.

A collection's chunk vectors are dealt to ``shards`` shards by chunk id (``id % shards``; ids are never
reused, so a chunk stays on its shard for life). Each shard is a :class:`~selfsim.store.vectors.VectorIndex`
of the collection's spec (or another) inside a Ray actor, which may live on any node of the cluster, so a
collection can outgrow one machine's memory. A query goes to every shard at once; each returns its own
top ``k``; the driver merges them (best score first, ties by chunk id) into the global top ``k``, which for
an exact index is the answer one index over all the vectors gives.

SQLite stays the source of truth, and every shard records the store generation it holds. Before answering,
the driver compares the store's generation with each shard's; a shard behind is caught up from the store
(the chunks added since, the chunks removed since, found by chunk id) or, if that is too much, rebuilt from
the store's vectors of its own ids. A search never merges answers from shards of different generations.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfsim.errors import ConfigError, ConflictError
from selfsim.store.collection import Store
from selfsim.store.vectors import VectorIndex
from selfsim.tasks.distributed.cluster import require_ray


@dataclass(frozen=True)
class ShardConfig:
    """How an index is sharded: ``shards`` actors holding ``spec`` indexes (None: the collection's spec),
    each searching with ``threads`` threads and asking the scheduler for ``cpus`` CPUs (0 lets several shards
    share a core, as queries are short); ``rebuild_share``: a shard missing more than this share of its
    vectors is rebuilt rather than caught up."""

    shards: int = 4
    spec: str | None = None
    threads: int = 1
    cpus: float = 0.0
    rebuild_share: float = 0.5

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ConfigError(f"shards must be at least 1, not {self.shards}.")
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, not {self.threads}.")


class VectorShard:
    """One shard: a vector index over some chunk ids, and the store generation it holds (a Ray actor)."""

    def __init__(self, spec: str, dim: int, ids: np.ndarray, vectors: np.ndarray, generation: int,
                 threads: int = 1) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)  # several shards share a node's cores; each keeps to its own
        self.index = VectorIndex.build(spec, dim, ids, vectors, generation)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """This shard's top ``k`` ``(scores, ids)`` per query row, and the generation they answer from."""
        scores, ids = self.index.search(queries, k)
        return scores, ids, self.index.generation

    def ids(self) -> np.ndarray:
        """Every chunk id the shard holds (tombstones excluded)."""
        return self.index.ids()

    def update(self, added_ids: np.ndarray, added_vectors: np.ndarray, removed_ids: np.ndarray,
               generation: int) -> int:
        """Apply the store's changes up to ``generation``; returns the shard's size."""
        self.index.remove(removed_ids)
        self.index.add(added_ids, added_vectors)
        self.index.generation = generation
        return self.index.size

    def describe(self) -> dict[str, Any]:
        """Size, generation and index kind of the shard."""
        return {"size": self.index.size, "generation": self.index.generation, "spec": self.index.built_spec}


class ShardedIndex:
    """A vector index split over Ray actors; :meth:`search` has the shape of :meth:`VectorIndex.search`."""

    def __init__(self, shards: list[Any], config: ShardConfig, spec: str, dim: int, generation: int) -> None:
        self.shards, self.config, self.spec, self.dim, self.generation = shards, config, spec, dim, generation

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, ids: np.ndarray, vectors: np.ndarray, config: ShardConfig = ShardConfig(),
                    spec: str = "Flat", generation: int = 0) -> ShardedIndex:
        """Shard ``vectors`` (under chunk ``ids``) into ``config.shards`` actors on the connected cluster."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        spec = config.spec or spec
        VectorIndex.check_spec(spec, dim)
        owner = ids % config.shards
        shards = [cls._start(config, spec, dim, ids[owner == s], vectors[owner == s], generation)
                  for s in range(config.shards)]
        sharded = cls(shards, config, spec, dim, generation)
        sharded.wait()
        return sharded

    @classmethod
    def from_store(cls, store: Store, config: ShardConfig = ShardConfig()) -> ShardedIndex:
        """Shard the active encoder's vectors of ``store``, read in one snapshot (so of one generation)."""
        with store.snapshot():
            generation = store.generation
            ids, vectors = _concatenated(store, None)
        if len(ids) == 0:
            raise ConfigError(f"{store.directory} holds no vectors to shard; index some items first.")
        return cls.from_arrays(ids, vectors, config, store.config.index, generation)

    @staticmethod
    def _start(config: ShardConfig, spec: str, dim: int, ids: np.ndarray, vectors: np.ndarray,
               generation: int) -> Any:
        ray = require_ray()
        actor = ray.remote(num_cpus=config.cpus, scheduling_strategy="SPREAD")(VectorShard)
        return actor.remote(spec, dim, ray.put(ids), ray.put(vectors), generation, config.threads)

    def wait(self) -> list[dict[str, Any]]:
        """Block until every shard is built; returns each one's size, generation and index kind."""
        return require_ray().get([shard.describe.remote() for shard in self.shards])

    def close(self) -> None:
        """Stop the shard actors (their memory is freed; the store keeps every vector)."""
        ray = require_ray()
        for shard in self.shards:
            ray.kill(shard)
        self.shards = []

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- searching ---------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest chunk ids per query row over all shards: ``(scores, ids)`` of shape ``(Q, k)``,
        -1 where fewer than ``k`` exist. Raises :class:`ConflictError` if a shard answers from another
        generation than the index's (call :meth:`sync` to bring it up to date)."""
        ray = require_ray()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        answers = ray.get([shard.search.remote(queries, k) for shard in self.shards])
        behind = [i for i, (_, _, generation) in enumerate(answers) if generation != self.generation]
        if behind:
            raise ConflictError(f"shards {behind} answer from another store generation than {self.generation}; "
                                "sync the sharded index with the store and search again.")
        return merge_top_k([a[0] for a in answers], [a[1] for a in answers], k)

    def search_store(self, store: Store, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search`, after bringing every shard up to ``store``'s generation."""
        self.sync(store)
        return self.search(queries, k)

    # -- keeping up with the store -----------------------------------------------------------------

    def sync(self, store: Store) -> list[str]:
        """Bring every shard behind the store up to its generation; returns what was done to each shard
        (``current``, ``caught up`` or ``rebuilt``)."""
        ray = require_ray()
        if store.generation == self.generation:
            return ["current"] * len(self.shards)
        with store.snapshot():  # the ids and vectors read are exactly those of `generation`
            generation = store.generation
            stored = store.chunk_ids()
            held = ray.get([shard.ids.remote() for shard in self.shards])
            done = []
            for number, shard_ids in enumerate(held):
                mine = stored[stored % len(self.shards) == number]
                added = np.setdiff1d(mine, shard_ids)
                removed = np.setdiff1d(shard_ids, mine)
                if len(added) + len(removed) > self.config.rebuild_share * max(len(mine), 1):
                    self.rebuild_shard(number, store, generation)
                    done.append("rebuilt")
                    continue
                ids, vectors = _concatenated(store, added)
                ray.get(self.shards[number].update.remote(ids, vectors, removed, generation))
                done.append("caught up")
        self.generation = generation
        return done

    def rebuild_shard(self, number: int, store: Store, generation: int | None = None) -> None:
        """Replace shard ``number`` by a fresh one built from the store's vectors of its ids (after a lost
        node, or when it fell far behind)."""
        ray = require_ray()
        with store.snapshot():
            at = store.generation if generation is None else generation
            stored = store.chunk_ids()
            ids, vectors = _concatenated(store, stored[stored % len(self.shards) == number])
        old = self.shards[number]
        self.shards[number] = self._start(self.config, self.spec, self.dim, ids, vectors, at)
        ray.get(self.shards[number].describe.remote())
        ray.kill(old)
        if generation is None and all(a["generation"] == at for a in self.wait()):
            self.generation = at


def nearest_items_sharded(store: Store, index: ShardedIndex, query: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` items nearest ``query`` (a unit vector) through ``index``, caught up with ``store`` first, as
    ``(item id, score of its best chunk)``: chunks of one item count once, so it fetches deeper until ``k``
    distinct items are found or every chunk was seen."""
    fetch = k
    while True:
        scores, ids = index.search_store(store, query, fetch)
        valid = ids[0] >= 0
        chunk_ids = ids[0][valid].tolist()
        spans = store.chunk_items(chunk_ids)
        items = store.items_by_key(sorted({span.item_key for span in spans.values()}))
        best: dict[str, float] = {}
        for chunk_id, score in zip(chunk_ids, scores[0][valid].tolist(), strict=True):
            span = spans.get(chunk_id)
            if span is not None and span.item_key in items:
                best.setdefault(items[span.item_key].id, float(score))
        if len(best) >= k or len(chunk_ids) < fetch:
            return list(best.items())[:k]
        fetch *= 4


def merge_top_k(scores: Sequence[np.ndarray], ids: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The global top ``k`` per row of several ``(Q, k_s)`` answers: best score first, ties by lower id,
    missing results (-1) last."""
    all_scores = np.concatenate(scores, axis=1)
    all_ids = np.concatenate(ids, axis=1)
    missing = all_ids < 0
    keys = np.where(missing, np.inf, -all_scores)  # missing results sort after every real one
    out_scores = np.full((len(all_ids), k), -np.inf, dtype=np.float32)
    out_ids = np.full((len(all_ids), k), -1, dtype=np.int64)
    for row in range(len(all_ids)):
        order = np.lexsort((all_ids[row], keys[row]))[:k]
        order = order[~missing[row, order]]
        out_scores[row, :len(order)] = all_scores[row, order]
        out_ids[row, :len(order)] = all_ids[row, order]
    return out_scores, out_ids


def timed_search(index: ShardedIndex | VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """The ids of ``k`` neighbours of each query searched one at a time, and each search's milliseconds."""
    found, millis = np.full((len(queries), k), -1, dtype=np.int64), []
    for row, query in enumerate(np.atleast_2d(queries)):
        started = time.perf_counter()
        _, ids = index.search(query[None, :], k)
        millis.append((time.perf_counter() - started) * 1000)
        found[row] = ids[0]
    return found, millis


def _concatenated(store: Store, chunk_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    dim = store.encoder[3]
    if chunk_ids is not None and len(chunk_ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
    batches = list(store.vectors(None if chunk_ids is None else chunk_ids.tolist()))
    if not batches:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
