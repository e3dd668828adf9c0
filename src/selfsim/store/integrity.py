"""What ``selfsim check`` and ``selfsim info`` report: does the vector index agree with the store?

The database is the source of truth and the FAISS index a cache of it, so the
index agrees when it holds exactly one vector per stored chunk: no *ghosts*
(vectors of chunks that were deleted), no *missing* chunks and no id held twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class IndexAgreement:
    """The vector index compared with the chunks table, both at ``generation``."""

    generation: int
    chunks: int
    vectors: int
    ghosts: int  # vectors whose chunk no longer exists
    missing: int  # chunks with no vector in the index
    duplicates: int  # extra copies of ids the index holds more than once

    @property
    def agrees(self) -> bool:
        """True when the index holds exactly one vector per chunk."""
        return self.ghosts == 0 and self.missing == 0 and self.duplicates == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data, with ``agrees``."""
        return {**asdict(self), "agrees": self.agrees}


def compare(generation: int, chunk_ids: np.ndarray, index_ids: np.ndarray) -> IndexAgreement:
    """Agreement of an index holding ``index_ids`` with a store holding ``chunk_ids``."""
    unique = np.unique(index_ids)
    return IndexAgreement(generation=generation, chunks=len(chunk_ids), vectors=len(index_ids),
                          ghosts=int(np.setdiff1d(unique, chunk_ids, assume_unique=True).size),
                          missing=int(np.setdiff1d(chunk_ids, unique, assume_unique=True).size),
                          duplicates=len(index_ids) - len(unique))


@dataclass(frozen=True)
class CheckReport:
    """SQLite's own checks and the index agreement, before and (with repair) after repairing."""

    database_problems: list[str]
    index: IndexAgreement
    repaired: IndexAgreement | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the database is sound and the index (after any repair) agrees with it."""
        final = self.repaired or self.index
        return not self.database_problems and final.agrees

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"ok": self.ok, "database_problems": self.database_problems, "index": self.index.to_dict(),
                "repaired": self.repaired.to_dict() if self.repaired else None, "notes": self.notes}
