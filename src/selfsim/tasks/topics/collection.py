"""Topics of a collection: fitting them over its items, writing them back as metadata, and what a person
looking at them sees (the topics written, and a 2-D map).

The last two read what :func:`selfsim.tasks.topics.model.write_topics` stored, so they cost nothing to fit. The
map's coordinates (UMAP or PCA over the item vectors) are the slow part; they are kept on disk in
``maps/`` beside the collection, once per store generation, so a second look is a file read.

Writing topics also saves how to give new items a topic (:class:`~selfsim.tasks.topics.assign.TopicAssigner`)
in ``topics/<field>/`` beside the collection; :class:`NewItemTopics` applies it to every item ingested after.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.store.collection import Store
from selfsim.store.database import PreparedItem
from selfsim.store.filters import Filter
from selfsim.tasks.topics.assign import OUTLIER, AssignConfig, TopicAssigner
from selfsim.tasks.topics.maps import map_coordinates
from selfsim.tasks.topics.model import TopicConfig, TopicResult, fit_topics

MAPS_DIR = "maps"
TOPICS_DIR = "topics"  # topics/<field>/: the saved assigner of the topics written to metadata <field>
_MAP_LOCK = threading.Lock()  # two requests for the same map compute it once


def cluster_collection(store: Store, config: TopicConfig = TopicConfig(), filter: Filter | None = None,
                       measure: bool = True) -> TopicResult:
    """Fit topics over the items of a collection passing ``filter`` (one vector per item: its chunks' mean)."""
    ids, vectors = store.item_vectors(filter)
    if not ids:
        raise NotFoundError(f"{store.directory} has no items{' passing the filter' if filter else ''}; "
                           "index some items first.")
    texts = {item.id: item.text for item in store.iterate(filter)}
    return fit_topics(vectors, [texts[i] for i in ids], ids, config, measure)


def write_topics(store: Store, result: TopicResult, field: str = "cluster", keywords_field: str = "cluster_keywords",
                 keywords: int = 5) -> int:
    """Write each item's cluster id (``field``; -1 for noise) and its cluster's top keywords as metadata.

    Items that carried the fields from an earlier run but were not clustered now have them removed.
    Returns how many items were updated.
    """
    clustered = set(result.ids)
    updates: dict[str, dict[str, Any]] = {item.id: {field: None, keywords_field: None}
                                          for item in store.iterate({field: {"$exists": True}})
                                          if item.id not in clustered}
    words = {t.cluster: t.keywords[:keywords] for t in result.model.topics_}
    for item_id, label in zip(result.ids, result.model.labels_.tolist(), strict=True):
        updates[item_id] = {field: int(label), keywords_field: words.get(label) if label >= 0 else None}
    store.update_metadata(updates)
    if result.vectors is not None and result.model.topics_:
        save_assigner(store, result, field, keywords_field, keywords)
    else:  # no topics to give new items: an older clustering's must not go on assigning its topics
        forget_assigner(store, field)
    return len(updates)


def forget_assigner(store: Store, field: str = "cluster") -> None:
    """Remove the saved topics of ``field``, so items indexed from now on get none."""
    directory = store.directory / TOPICS_DIR / field
    if directory.is_dir() and field and "/" not in field and not field.startswith("."):
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()


def save_assigner(store: Store, result: TopicResult, field: str = "cluster", keywords_field: str = "cluster_keywords",
                  keywords: int = 5, config: AssignConfig = AssignConfig()) -> None:
    """Save, beside the collection, what gives items ingested later one of ``result``'s topics (or -1)."""
    _check_field(field)
    encoder = store.encoder
    info = {"field": field, "keywords_field": keywords_field, "generation": store.generation,
            "encoder": {"name": encoder.name, "version": encoder.version, "dim": encoder.dim},
            "topics": [{"topic": t.cluster, "size": t.size, "keywords": t.keywords[:keywords]}
                       for t in result.model.topics_],
            "method": "nearest prototype in the encoder's space (k-means inside each topic); the fitted UMAP is "
                      "not kept, because it can only be saved by pickle"}
    result.assigner(config).save(store.directory / TOPICS_DIR / field, info)


def _check_field(field: str) -> None:
    if not field or "/" in field or "\\" in field or field.startswith("."):
        raise ConfigError(f"{field!r} cannot name a topics field; use letters, digits and underscores.")


class NewItemTopics:
    """Gives items written after a ``write_topics`` the nearest saved topic, or -1 (an outlier), for every field whose
    topics were saved; loaded once per ingest. Topics saved under another encoder (the collection was re-embedded
    since) are left alone: their prototypes live in the old encoder's space."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.saved: list[tuple[TopicAssigner, dict[str, Any]]] = []
        root = store.directory / TOPICS_DIR
        if not root.is_dir():
            return
        encoder = store.encoder
        for directory in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
            try:
                assigner, info = TopicAssigner.load(directory)
            except ConfigError as error:  # a damaged artifact must not stop items being indexed
                warnings.warn(f"new items get no topics from {directory.name}: {error}", stacklevel=2)
                continue
            saved_encoder = info.get("encoder", {})
            if ((saved_encoder.get("name"), saved_encoder.get("version")) == (encoder.name, encoder.version)
                    and assigner.prototypes_.shape[1] == encoder.dim):
                self.saved.append((assigner, info))

    def assign(self, items: list[PreparedItem]) -> list[PreparedItem]:
        """``items`` with the topic fields added to their metadata, to be stored as they are, so an item and its
        topic are written in one transaction (items without vectors, or with no topics saved, are unchanged)."""
        if not self.saved:
            return items
        embedded = [i for i, item in enumerate(items) if len(item.vectors)]
        if not embedded:
            return items
        vectors = np.stack([np.asarray(items[i].vectors, dtype=np.float32).mean(axis=0) for i in embedded])
        metadata = {i: dict(items[i].record.metadata) for i in embedded}
        for assigner, info in self.saved:
            topics, _ = assigner.assign(vectors)
            words = {t["topic"]: t["keywords"] for t in info["topics"]}
            for i, topic in zip(embedded, topics.tolist(), strict=True):
                metadata[i][info["field"]] = int(topic)
                if topic == OUTLIER:
                    metadata[i].pop(info["keywords_field"], None)
                else:
                    metadata[i][info["keywords_field"]] = words.get(topic)
        return [replace(item, record=replace(item.record, metadata=metadata[i])) if i in metadata else item
                for i, item in enumerate(items)]


@dataclass(frozen=True)
class TopicSummary:
    """One topic as stored: its number (-1 for noise), how many items it holds, and its keywords."""

    topic: Any
    size: int
    keywords: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"topic": self.topic, "size": self.size, "keywords": list(self.keywords)}


@dataclass(frozen=True)
class MapData:
    """Map coordinates scaled into [0, 1] for ``ids`` (with each item's topic) and each topic's centre."""

    ids: list[str]
    x: np.ndarray  # (N,)
    y: np.ndarray  # (N,)
    topics: list[Any]
    centres: list[dict[str, Any]]
    total: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``points`` (id, x, y, topic), ``topics`` (topic, x, y, keywords) and ``total``."""
        points = [{"id": item_id, "x": round(float(x), 5), "y": round(float(y), 5), "topic": topic}
                  for item_id, x, y, topic in zip(self.ids, self.x, self.y, self.topics, strict=True)]
        return {"points": points, "topics": self.centres, "total": self.total}


def topic_summaries(store: Store, field: str = "cluster",
                    keywords_field: str = "cluster_keywords") -> list[TopicSummary]:
    """The topics stored in metadata ``field``, largest first (noise last), with their keywords."""
    groups = store.field_groups(field, keywords_field)
    summaries = [TopicSummary(group.value, group.size, list(group.detail) if isinstance(group.detail, list) else [])
                 for group in groups]
    return sorted(summaries, key=lambda s: (s.topic == -1, -s.size))


def collection_map(store: Store, field: str = "cluster", limit: int | None = None, method: str = "auto",
                   seed: int = 0) -> MapData:
    """Map coordinates of the collection's items (at most ``limit``, spread evenly over the collection),
    each with its value of metadata ``field`` (None when it has none)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"the map limit must be a whole number of 1 or more, not {limit!r}.")
    with _MAP_LOCK:
        ids, coordinates = _coordinates(store, limit, method, seed)
    low, high = coordinates.min(axis=0), coordinates.max(axis=0)
    scaled = (coordinates - low) / np.maximum(high - low, 1e-9)
    summaries = {s.topic: s for s in topic_summaries(store, field, f"{field}_keywords")}
    topic_of = store.field_values(field) if summaries else {}
    topics = [topic_of.get(item_id) for item_id in ids]
    centres = []
    for topic, summary in summaries.items():
        rows = [row for row, t in enumerate(topics) if t == topic]
        if rows:
            centre = np.median(scaled[rows], axis=0)
            centres.append({"topic": topic, "x": round(float(centre[0]), 5), "y": round(float(centre[1]), 5),
                            "size": summary.size, "keywords": summary.keywords})
    return MapData(ids, scaled[:, 0], scaled[:, 1], topics, centres, store.count())


def _coordinates(store: Store, limit: int | None, method: str, seed: int) -> tuple[list[str], np.ndarray]:
    generation = store.generation
    name = f"g{generation}-{method}-{limit or 'all'}-{seed}"
    directory = store.directory / MAPS_DIR
    cached = directory / f"{name}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as saved:
            return saved["ids"].tolist(), saved["xy"]
    ids, vectors = store.item_vectors()
    if limit is not None and len(ids) > limit:
        rows = np.unique(np.linspace(0, len(ids) - 1, limit).round().astype(np.int64))
        ids, vectors = [ids[r] for r in rows.tolist()], vectors[rows]
    xy = map_coordinates(vectors, method, seed).astype(np.float32)
    directory.mkdir(exist_ok=True)
    for old in directory.glob("g*.npz"):  # maps of earlier generations are stale
        old.unlink(missing_ok=True)
    partial = directory / f".{name}.partial.npz"
    np.savez(partial, ids=np.asarray(ids, dtype=str), xy=xy)
    partial.replace(cached)
    return ids, xy
