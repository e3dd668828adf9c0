"""Pictures of topics beyond the map: the merge tree (PNG and one offline HTML page) and topics over time (PNG).

Like the map, every HTML page carries its data inline and loads nothing; matplotlib draws the PNGs.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.topics.hierarchy import TopicHierarchy
from selfsim.tasks.topics.timeline import TopicTimeline


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or a clear error."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("drawing a PNG needs matplotlib; reinstall selfsim or run pip install matplotlib.") from None
    return plt


def write_tree_png(path: str | Path, tree: TopicHierarchy, title: str = "topic hierarchy") -> Path:
    """Draw the merge tree as a dendrogram: one leaf per topic (its keywords and size), merges at 1 - similarity."""
    from scipy.cluster.hierarchy import dendrogram

    if len(tree.clusters) < 2:
        raise ConfigError("a topic tree needs at least two topics.")
    plt = pyplot()
    path = Path(path)
    leaves = len(tree.clusters)
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.32 * leaves + 1.2)), dpi=120)
    dendrogram(tree.linkage(), orientation="left", ax=axes, color_threshold=0, above_threshold_color="#555555",
               labels=[f"{tree.clusters[i]}: {tree.label(i)} ({tree.sizes[i]:,})" for i in range(leaves)],
               leaf_font_size=8)
    axes.set_xlabel("1 - similarity (words and centres) when merged")
    axes.set_title(title)
    return _saved(figure, axes, path)


def _tree_node(tree: TopicHierarchy, node: int) -> dict[str, Any]:
    leaves = len(tree.clusters)
    if node < leaves:
        return {"name": tree.label(node), "topic": tree.clusters[node], "size": tree.sizes[node],
                "keywords": tree.keywords[node]}
    merge = tree.merges[node - leaves]
    return {"name": tree.label(node), "size": merge.size, "similarity": round(merge.similarity, 3),
            "keywords": merge.keywords, "step": node - leaves + 1,
            "children": [_tree_node(tree, merge.left), _tree_node(tree, merge.right)]}


def write_tree_html(path: str | Path, tree: TopicHierarchy, title: str = "topic hierarchy") -> Path:
    """Write the merge tree as one offline HTML page: nested, foldable groups, each with its keywords and size."""
    if len(tree.clusters) < 2:
        raise ConfigError("a topic tree needs at least two topics.")
    path = Path(path)
    root = _tree_node(tree, len(tree.clusters) + len(tree.merges) - 1)
    payload = json.dumps({"title": title, "root": root}, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    page = _TREE_PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_timeline_png(path: str | Path, timeline: TopicTimeline, top: int = 10, title: str = "topics over time"
                       ) -> Path:
    """Plot items per period for the ``top`` largest topics (the rest summed as "other topics")."""
    from selfsim.tasks.topics.maps import colour_of

    plt = pyplot()
    path = Path(path)
    totals = timeline.counts.sum(axis=0)
    ranked = [i for i in np.argsort(-totals, kind="stable") if timeline.topics[i] >= 0][:top]
    figure, axes = plt.subplots(figsize=(11, 5.5), dpi=120)
    positions = np.arange(len(timeline.periods))
    for column in ranked:
        topic = timeline.topics[column]
        axes.plot(positions, timeline.counts[:, column], marker="o", markersize=3, linewidth=1.6,
                  color=colour_of(topic), label=f"{topic}: {timeline.names.get(topic, '')}".strip())
    rest = [i for i in range(len(timeline.topics)) if i not in set(ranked)]
    if rest:
        axes.plot(positions, timeline.counts[:, rest].sum(axis=1), linestyle="--", linewidth=1.2, color="#999999",
                  label="other topics and outliers")
    step = max(1, len(positions) // 16)
    axes.set_xticks(positions[::step], [timeline.periods[i] for i in positions[::step]], rotation=45, ha="right")
    axes.set_ylabel(f"items per {timeline.period}")
    axes.set_title(title + (f" ({timeline.undated:,} undated items left out)" if timeline.undated else ""))
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _saved(figure, axes, path)


def _saved(figure: Any, axes: Any, path: Path) -> Path:
    """Write ``figure`` to ``path`` without the top and right frame lines, and free it."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot().close(figure)
    return path


_TREE_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px 24px; color: #222; }
  h1 { font-size: 18px; }
  ul { list-style: none; padding-left: 20px; margin: 0; border-left: 1px dotted #bbb; }
  summary { cursor: pointer; padding: 2px 0; }
  .leaf { padding: 2px 0 2px 14px; }
  .size { color: #777; margin-left: 6px; }
  .sim { color: #999; font-size: 12px; margin-left: 6px; }
  .topic { font-weight: 600; margin-right: 4px; }
</style>
</head>
<body>
<h1 id="title"></h1>
<p>Topics merged pairwise, most similar first (c-TF-IDF words and item centres); each group shows the keywords
of its merged items. Click a group to fold it.</p>
<div id="tree"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
document.getElementById("title").textContent = D.title;
function render(node) {
  const item = document.createElement("li");
  const text = document.createElement("span"); text.textContent = node.keywords.slice(0, 5).join(", ");
  const size = document.createElement("span"); size.className = "size"; size.textContent = node.size + " items";
  if (!node.children) {
    item.className = "leaf";
    const topic = document.createElement("span"); topic.className = "topic"; topic.textContent = "topic " + node.topic;
    item.append(topic, text, size);
    return item;
  }
  const details = document.createElement("details"); details.open = true;
  const summary = document.createElement("summary");
  const sim = document.createElement("span"); sim.className = "sim";
  sim.textContent = "merge " + node.step + ", similarity " + node.similarity;
  summary.append(text, size, sim);
  const list = document.createElement("ul");
  node.children.forEach(child => list.append(render(child)));
  details.append(summary, list);
  item.append(details);
  return item;
}
const top = document.createElement("ul"); top.append(render(D.root));
document.getElementById("tree").append(top);
</script>
</body>
</html>
"""
