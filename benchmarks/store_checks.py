"""What the stress and kill benchmarks share: a fast hashing encoder and the full consistency check.

The full check of a collection after concurrent or killed writers:

- SQLite's integrity and foreign-key checks;
- the vector index as a fresh open sees it (the saved index caught up) against the chunks table:
  no ghosts, none missing, no id twice; and the saved index file itself, once a clean open and
  close has brought it to the store's generation;
- every stored chunk is found by an exact search for its own vector;
- optionally, the acknowledged writes replayed in commit (generation) order against what is stored:
  no lost write (an acknowledged put whose item is missing or differs), no stale one (an older
  version stored), no resurrected item (an acknowledged delete that is still there).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selfsim import Collection
from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.store.integrity import compare
from selfsim.store.vectors import VectorIndex

WORD = re.compile(r"\w+")


class HashingEncoder:
    """Feature hashing of words into 64 signed dimensions, L2-normalised: instant and deterministic,
    so a stress run spends its time in the store rather than in a transformer."""

    name = "hashing-64"
    version = "1"
    dim = 64

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """One unit vector per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()) or ["<empty>"]:
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                out[row, digest[0] % self.dim] += 1.0 if digest[1] & 1 else -1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        out[np.linalg.norm(out, axis=1) == 0, 0] = 1.0  # words that cancelled out still get a unit vector
        if progress is not None:
            progress(len(texts))
        return out


def expected_state(writes: list[dict[str, Any]]) -> dict[str, str | None]:
    """The text each id must have (None: deleted) after replaying acknowledged writes by generation."""
    state: dict[str, str | None] = {}
    for write in sorted(writes, key=lambda w: w["generation"]):
        state[write["id"]] = write.get("text")
    return state


def full_check(path: Path, encoder: Encoder | None = None,
               writes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every check above, as counts (all zero and ``database_problems`` empty when consistent)."""
    with Collection.open(path, encoder=encoder) as collection:
        report = collection.check()
        opened = report.index
    saved = VectorIndex.load(path / "index")  # the clean close above brought it to the store's generation
    with Collection.open(path, encoder=encoder) as collection:
        store = collection.store
        chunk_ids = store.chunk_ids()
        generation = store.generation
        saved_agreement = (compare(saved.generation, chunk_ids, saved.ids()).to_dict()
                           if saved is not None and saved.generation == generation else None)
        index = store.index
        not_found = 0
        for ids, vectors in store.vectors():
            scores, found = index.search(vectors, 10)
            own = np.einsum("ij,ij->i", vectors, vectors)
            for row, chunk_id in enumerate(ids.tolist()):
                if chunk_id not in found[row] and scores[row, -1] < own[row] - 1e-5:
                    not_found += 1
        replay = {"lost": 0, "stale": 0, "resurrected": 0, "checked_ids": 0}
        if writes is not None:
            for item_id, text in expected_state(writes).items():
                replay["checked_ids"] += 1
                stored = store.get(item_id)
                if text is None:
                    replay["resurrected"] += stored is not None
                elif stored is None:
                    replay["lost"] += 1
                elif stored.text != text:
                    replay["stale"] += 1
        items = len(collection)
    return {"items": items, "chunks": int(len(chunk_ids)), "generation": generation,
            "database_problems": report.database_problems, "index_on_open": opened.to_dict(),
            "saved_index": saved_agreement, "chunks_not_found_by_own_vector": not_found, **replay}


def consistent(check: dict[str, Any]) -> bool:
    """True when :func:`full_check` found nothing wrong."""
    saved = check["saved_index"]
    return (not check["database_problems"] and check["index_on_open"]["agrees"]
            and saved is not None and saved["agrees"] and check["chunks_not_found_by_own_vector"] == 0
            and check["lost"] == check["stale"] == check["resurrected"] == 0)
