"""Baselines for next-item recommendation: most popular items, and item-to-item co-occurrence kNN.

Both are scikit-learn-style estimators over histories of integer item ids
(1..n_items, see :class:`selfsim.data.interactions.InteractionLog`): ``fit``
learns from training histories and returns ``self``, ``score`` gives every
id a score for each history, (U, V + 1), column 0 (padding) included.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from scipy import sparse


class PopularityRecommender:
    """Scores every item by how often it occurs in the training histories (the same list for everyone)."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def fit(self, histories: Sequence[np.ndarray]) -> PopularityRecommender:
        """Count item occurrences."""
        counts = np.zeros(self.n_items + 1, dtype=np.float64)
        for history in histories:
            np.add.at(counts, np.asarray(history, dtype=np.int64), 1.0)
        counts[0] = 0.0
        self.counts_ = counts
        return self

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """The counts, once per history, (U, V + 1)."""
        row = torch.from_numpy(self.counts_.astype(np.float32))
        return row.expand(len(histories), -1)


class CooccurrenceRecommender:
    """Item-to-item kNN: items that followed or preceded the user's recent items in other histories.

    Two items co-occur when they are at most ``window`` positions apart in a
    training history, each pair weighted by ``1 / distance`` (an earlier item's
    link to a later one; the link back is weighted ``backward`` times as much,
    1 by default: symmetric; below 1 favours what followed); the similarity is
    the co-occurrence normalised by ``sqrt(count_i * count_j)`` (cosine), each
    item keeping its ``neighbours`` most similar items. A history scores an item
    by the similarities to its last ``recent`` items, each discounted by
    ``decay`` per step back in time; ties are broken by popularity.
    """

    def __init__(self, n_items: int, window: int = 3, neighbours: int = 100, recent: int = 5,
                 decay: float = 0.7, backward: float = 1.0) -> None:
        self.n_items = n_items
        self.window = window
        self.neighbours = neighbours
        self.recent = recent
        self.decay = decay
        self.backward = backward

    def fit(self, histories: Sequence[np.ndarray]) -> CooccurrenceRecommender:
        """Build the item-item similarity matrix, (V + 1, V + 1) sparse."""
        rows, cols, weights = [], [], []
        for history in histories:
            history = np.asarray(history, dtype=np.int64)
            for gap in range(1, self.window + 1):
                if len(history) <= gap:
                    break
                a, b = history[:-gap], history[gap:]
                keep = a != b
                rows += [a[keep], b[keep]]  # row: an item of the history; column: the item it scores
                cols += [b[keep], a[keep]]
                weights += [np.full(int(keep.sum()), 1.0 / gap), np.full(int(keep.sum()), self.backward / gap)]
        size = self.n_items + 1
        if rows:
            matrix = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                                       shape=(size, size))
        else:
            matrix = sparse.csr_matrix((size, size))
        counts = PopularityRecommender(self.n_items).fit(histories).counts_
        norm = np.sqrt(np.maximum(counts, 1.0))
        matrix = sparse.diags(1.0 / norm) @ matrix @ sparse.diags(1.0 / norm)
        self.similarity_ = _keep_top(matrix.tocsr(), self.neighbours)
        self.popularity_ = counts / max(1.0, counts.max())
        return self

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """Similarity to the recent items of each history, plus a popularity tie-breaker, (U, V + 1)."""
        size = self.n_items + 1
        rows, cols, weights = [], [], []
        for r, history in enumerate(histories):
            recent = np.asarray(history, dtype=np.int64)[-self.recent:][::-1]
            rows.append(np.full(len(recent), r))
            cols.append(recent)
            weights.append(self.decay ** np.arange(len(recent)))
        if histories and sum(len(c) for c in cols):
            profile = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                                        shape=(len(histories), size))
            scores = np.asarray((profile @ self.similarity_).todense(), dtype=np.float32)
        else:
            scores = np.zeros((len(histories), size), dtype=np.float32)
        scores += 1e-6 * self.popularity_.astype(np.float32)[None, :]
        return torch.from_numpy(scores)

    def save(self, path: str | Path) -> Path:
        """Write the fitted similarities and popularity to one safetensors file (settings in its metadata)."""
        matrix = self.similarity_
        tensors = {"indptr": torch.from_numpy(matrix.indptr.astype(np.int64)),
                   "indices": torch.from_numpy(matrix.indices.astype(np.int64)),
                   "data": torch.from_numpy(matrix.data.astype(np.float64)),
                   "popularity": torch.from_numpy(self.popularity_.astype(np.float64))}
        settings = {"n_items": self.n_items, "window": self.window, "neighbours": self.neighbours,
                    "recent": self.recent, "decay": self.decay, "backward": self.backward}
        save_file(tensors, str(path), metadata={k: str(v) for k, v in settings.items()})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> CooccurrenceRecommender:
        """A recommender written by :meth:`save`, ready to score."""
        with safe_open(str(path), framework="pt") as handle:
            settings = handle.metadata()
        tensors = load_file(str(path))
        out = cls(int(settings["n_items"]), int(settings["window"]), int(settings["neighbours"]),
                  int(settings["recent"]), float(settings["decay"]), float(settings.get("backward", 1.0)))
        size = out.n_items + 1
        out.similarity_ = sparse.csr_matrix((tensors["data"].numpy(), tensors["indices"].numpy(),
                                             tensors["indptr"].numpy()), shape=(size, size))
        out.popularity_ = tensors["popularity"].numpy()
        return out

    def similar(self, item: int, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` items most similar to ``item``, with their similarities."""
        row = self.similarity_.getrow(item)
        order = np.argsort(-row.data)[:k]
        return [(int(row.indices[i]), float(row.data[i])) for i in order]


def _keep_top(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep each row's ``k`` largest entries."""
    indptr, indices, data = [0], [], []
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        values = matrix.data[start:end]
        columns = matrix.indices[start:end]
        if len(values) > k:
            top = np.argpartition(-values, k)[:k]
            values, columns = values[top], columns[top]
        data.append(values)
        indices.append(columns)
        indptr.append(indptr[-1] + len(values))
    return sparse.csr_matrix((np.concatenate(data) if data else np.zeros(0),
                              np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64), indptr),
                             shape=matrix.shape)
