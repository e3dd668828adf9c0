"""Named results of the store's reads: small NamedTuples, so callers read fields by name and code that
unpacks them as tuples keeps working."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class EncoderInfo(NamedTuple):
    """An encoder the collection knows: its id in the store, its name, version and vector dimension."""

    id: int
    name: str
    version: str
    dim: int


class ChunkSpan(NamedTuple):
    """Where a chunk lies: the item that holds it, its position among the item's chunks and its
    character span ``[start, end)`` in the item's text."""

    item_key: int
    position: int
    start: int
    end: int


class ItemChunk(NamedTuple):
    """One chunk of an item: its id, its position among the item's chunks and its span ``[start, end)``."""

    chunk_id: int
    position: int
    start: int
    end: int


class ChunkText(NamedTuple):
    """A chunk's id and its text."""

    chunk_id: int
    text: str


class VectorBatch(NamedTuple):
    """Stored chunk vectors: ``ids`` of shape ``(N,)`` int64 and ``vectors`` of shape ``(N, dim)`` float32."""

    ids: np.ndarray
    vectors: np.ndarray


class NearestItem(NamedTuple):
    """A nearest-neighbour result: the item's key, its score (inner product of unit vectors) and the id
    of its best chunk."""

    key: int
    score: float
    chunk_id: int


class KeywordMatch(NamedTuple):
    """A keyword result: the item's key and its BM25 score (higher is better)."""

    key: int
    score: float


class ItemVectors(NamedTuple):
    """One unit vector per item: ``ids`` (item ids) and ``vectors`` of shape ``(len(ids), dim)``."""

    ids: list[str]
    vectors: np.ndarray


class WriteResult(NamedTuple):
    """What a write did: the generation it committed as (the current one when nothing was written) and
    the ids that were not there."""

    generation: int
    missing: list[str]
