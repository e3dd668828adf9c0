"""Maps of a clustering as files: 2-D coordinates of the items, a PNG and one offline HTML page.

>>> result = collection.topics()                                            # doctest: +SKIP
>>> coordinates = topic_map(result)                                          # doctest: +SKIP
>>> write_map_png("topics.png", result, coordinates, title="tickets")        # doctest: +SKIP

:meth:`selfsim.app.Collection.map_points` gives the coordinates of topics written into a collection
(for a web page); these functions draw the result of one :meth:`~selfsim.app.Collection.topics` call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.topics.maps import map_coordinates, write_html, write_png
from selfsim.tasks.topics.model import TopicResult
from selfsim.tasks.topics.plots import write_timeline_png, write_tree_html, write_tree_png
from selfsim.tasks.topics.timeline import TopicTimeline, topics_over_time

__all__ = ["TopicTimeline", "topic_map", "topic_timeline", "write_map_html", "write_map_png", "write_timeline_png",
           "write_topic_tree_html", "write_topic_tree_png"]


def topic_map(result: TopicResult, method: str = "auto", seed: int = 0) -> np.ndarray:
    """``(N, 2)`` coordinates of the items of ``result`` (in the order of ``result.ids``): ``umap``, ``pca``,
    or ``auto`` (UMAP when it is installed, else PCA), computed from the vectors the clustering saw."""
    return map_coordinates(result.model.reduced_, method, seed)


def _names(result: TopicResult) -> dict[int, str]:
    return {topic.cluster: topic.label for topic in result.model.topics_}


def write_map_png(path: str | Path, result: TopicResult, coordinates: np.ndarray, title: str = "") -> Path:
    """Draw the map as a PNG at ``path``: points coloured by cluster, each cluster labelled by its keywords."""
    return write_png(path, coordinates, result.model.labels_, _names(result), title=title)


def write_map_html(path: str | Path, result: TopicResult, coordinates: np.ndarray,
                   texts: Mapping[str, str] | Sequence[str], title: str = "selfsim map") -> Path:
    """Write an interactive map to ``path`` (one self-contained file that works offline); ``texts`` are the items'
    texts, by id or in the order of ``result.ids``, shown when pointing at an item."""
    shown = [texts[i] for i in result.ids] if isinstance(texts, Mapping) else list(texts)
    return write_html(path, coordinates, result.model.labels_, _names(result), result.ids, shown, title=title)


def _tree(result: TopicResult):  # noqa: ANN202 - a TopicHierarchy
    if result.hierarchy is None:
        raise ConfigError("a topic tree needs at least two topics; cluster into more.")
    return result.hierarchy


def write_topic_tree_png(path: str | Path, result: TopicResult, title: str = "topic hierarchy") -> Path:
    """Draw which topics of ``result`` merge in which order (most similar first) as a dendrogram PNG."""
    return write_tree_png(path, _tree(result), title)


def write_topic_tree_html(path: str | Path, result: TopicResult, title: str = "topic hierarchy") -> Path:
    """Write the merge tree of ``result``'s topics as one offline HTML page of nested, foldable groups."""
    return write_tree_html(path, _tree(result), title)


def topic_timeline(result: TopicResult, times: Mapping[str, object], period: str = "auto") -> TopicTimeline:
    """Items of each topic per period; ``times`` maps item id to a time (ISO 8601 or seconds since 1970)."""
    return topics_over_time(result.ids, result.model.labels_, times, period, _names(result))
