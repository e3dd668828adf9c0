"""A 2-D map of a collection: coordinates (UMAP or PCA), a PNG, and a self-contained interactive HTML page.

The HTML page carries its data and its script inline (no network, no
libraries): points drawn on a canvas and coloured by cluster, the text of the
point under the pointer in a tooltip, wheel to zoom, drag to pan, a legend of
cluster keywords that highlights a cluster when clicked, and a search box that
highlights the items containing a phrase. matplotlib (for the PNG) is an
optional dependency, imported only when a PNG is drawn.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.topics.reduce import PCAReduction, UMAPReduction, umap_installed

# 20 distinguishable colours (Kelly's and Tableau's palettes), noise in grey.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
           "#636363", "#ad494a")
NOISE_COLOUR = "#c8c8c8"


def map_coordinates(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates for a map: ``umap`` (cosine, ``min_dist=0.1``, reads well), ``pca``, or
    ``auto`` (UMAP when it is installed, else PCA)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if method == "auto":
        method = "umap" if umap_installed() else "pca"
    if len(vectors) < 3 or method == "pca":
        if len(vectors) == 0:
            raise ConfigError("there is nothing to map; index some items first.")
        if len(vectors) == 1:
            return np.zeros((1, 2), dtype=np.float32)
        return PCAReduction(2, normalise=False, seed=seed).fit_transform(vectors)
    if method == "umap":
        return UMAPReduction(2, n_neighbors=15, min_dist=0.1, seed=seed).fit_transform(vectors)
    raise ConfigError(f"unknown map method {method!r}; use auto, umap or pca.")


def colour_of(cluster: int) -> str:
    """The colour a cluster is drawn in (grey for noise, -1)."""
    return NOISE_COLOUR if cluster < 0 else PALETTE[cluster % len(PALETTE)]


def _centres(coordinates: np.ndarray, labels: np.ndarray) -> dict[int, tuple[float, float]]:
    # The median is where a label reads best: a cluster's mean can fall between its parts.
    return {int(c): tuple(np.median(coordinates[labels == c], axis=0).tolist())  # type: ignore[misc]
            for c in np.unique(labels) if c >= 0}


def write_png(path: str | Path, coordinates: np.ndarray, labels: np.ndarray, names: Mapping[int, str],
              title: str = "", size: float = 10.0, max_labels: int = 40) -> Path:
    """Draw the map as a PNG: points coloured by cluster, each cluster labelled by its keywords."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import patheffects
    except ImportError:
        raise ConfigError("drawing a PNG needs matplotlib; reinstall selfsim or run pip install matplotlib, "
                          "or write only the HTML map.") from None
    path = Path(path)
    labels = np.asarray(labels)
    figure, axes = plt.subplots(figsize=(size, size * 0.8), dpi=120)
    point = max(0.5, min(12.0, 4000.0 / max(len(labels), 1)))
    noise = labels < 0
    if noise.any():
        axes.scatter(coordinates[noise, 0], coordinates[noise, 1], s=point * 0.6, c=NOISE_COLOUR, linewidths=0)
    colours = [colour_of(int(c)) for c in labels[~noise]]
    axes.scatter(coordinates[~noise, 0], coordinates[~noise, 1], s=point, c=colours, linewidths=0, alpha=0.8)
    sizes = {int(c): int((labels == c).sum()) for c in np.unique(labels) if c >= 0}
    for cluster, (x, y) in sorted(_centres(coordinates, labels).items(), key=lambda kv: -sizes[kv[0]])[:max_labels]:
        text = axes.annotate(names.get(cluster, str(cluster)), (x, y), ha="center", va="center", fontsize=8,
                             color="#111111", weight="bold")
        text.set_path_effects([patheffects.withStroke(linewidth=3, foreground="white")])
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_html(path: str | Path, coordinates: np.ndarray, labels: np.ndarray, names: Mapping[int, str],
               ids: Sequence[str], texts: Sequence[str], title: str = "selfsim map", snippet: int = 300) -> Path:
    """Write a self-contained interactive map (one file, works offline)."""
    path = Path(path)
    labels = np.asarray(labels)
    if not len(coordinates) == len(labels) == len(ids) == len(texts):
        raise ConfigError("coordinates, labels, ids and texts must have the same length.")
    low, high = coordinates.min(axis=0), coordinates.max(axis=0)
    scaled = (coordinates - low) / np.maximum(high - low, 1e-9)  # into [0, 1] on both axes
    sizes = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
    clusters = [{"id": c, "name": names.get(c, "noise" if c < 0 else f"cluster {c}"), "size": sizes[c],
                 "colour": colour_of(c), "centre": [round(v, 4) for v in _centres(scaled, labels).get(c, (0.5, 0.5))]}
                for c in sorted(sizes, key=lambda c: (c < 0, -sizes[c]))]
    data = {"title": title,
            "x": np.round(scaled[:, 0], 4).tolist(), "y": np.round(scaled[:, 1], 4).tolist(),
            "c": labels.astype(int).tolist(), "ids": [str(i) for i in ids],
            "t": [" ".join(t.split())[:snippet] for t in texts], "clusters": clusters}
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")  # cannot end the script element early
    page = _PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { margin: 0; font: 13px system-ui, sans-serif; display: flex; height: 100vh; color: #222; }
  #side { width: 300px; overflow-y: auto; border-right: 1px solid #ddd; padding: 8px; box-sizing: border-box; }
  #side h1 { font-size: 15px; margin: 4px 0 8px; }
  #side input { width: 100%; box-sizing: border-box; padding: 4px; margin-bottom: 8px; }
  .cluster { cursor: pointer; padding: 2px 4px; border-radius: 3px; display: flex; gap: 6px; align-items: baseline; }
  .cluster:hover, .cluster.on { background: #eef; }
  .swatch { width: 10px; height: 10px; border-radius: 50%; flex: none; }
  .size { color: #888; margin-left: auto; }
  #stage { flex: 1; position: relative; }
  canvas { width: 100%; height: 100%; display: block; cursor: crosshair; }
  #tip { position: absolute; pointer-events: none; background: #fff; border: 1px solid #bbb; padding: 6px 8px;
         max-width: 380px; box-shadow: 0 2px 6px rgba(0,0,0,.15); border-radius: 4px; display: none; }
  #tip b { display: block; margin-bottom: 3px; }
  #status { position: absolute; bottom: 6px; right: 10px; color: #888; }
</style>
</head>
<body>
<div id="side"><h1 id="title"></h1>
  <input id="find" placeholder="highlight items containing..." autocomplete="off">
  <div id="legend"></div></div>
<div id="stage"><canvas id="map"></canvas><div id="tip"></div><div id="status"></div></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const canvas = document.getElementById("map"), ctx = canvas.getContext("2d");
const tip = document.getElementById("tip"), status = document.getElementById("status");
const N = D.x.length, colour = {}, name = {};
D.clusters.forEach(c => { colour[c.id] = c.colour; name[c.id] = c.name; });
document.getElementById("title").textContent = D.title + " (" + N.toLocaleString() + " items)";
let view = {scale: 1, dx: 0, dy: 0}, chosen = null, found = null, width = 0, height = 0;

function resize() {
  const r = canvas.getBoundingClientRect(), ratio = window.devicePixelRatio || 1;
  width = r.width; height = r.height;
  canvas.width = width * ratio; canvas.height = height * ratio;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  draw();
}
function sx(i) { const m = 30, s = Math.min(width, height) - 2 * m;
  return (m + D.x[i] * s + (width - Math.min(width, height)) / 2) * view.scale + view.dx; }
function sy(i) { const m = 30, s = Math.min(width, height) - 2 * m;
  return (m + (1 - D.y[i]) * s + (height - Math.min(width, height)) / 2) * view.scale + view.dy; }
function lit(i) {
  if (found && !found.has(i)) return false;
  return chosen === null || D.c[i] === chosen;
}
function draw() {
  ctx.clearRect(0, 0, width, height);
  const r = Math.max(1.2, Math.min(4, 600 / Math.sqrt(N))) * Math.sqrt(view.scale);
  for (const pass of [false, true]) {
    for (let i = 0; i < N; i++) {
      if (lit(i) !== pass) continue;
      ctx.globalAlpha = pass ? 0.85 : 0.12;
      ctx.fillStyle = colour[D.c[i]];
      ctx.beginPath(); ctx.arc(sx(i), sy(i), D.c[i] < 0 ? r * 0.7 : r, 0, 6.2832); ctx.fill();
    }
  }
  ctx.globalAlpha = 1; ctx.font = "bold 12px system-ui, sans-serif"; ctx.textAlign = "center";
  ctx.lineWidth = 3; ctx.strokeStyle = "#fff"; ctx.fillStyle = "#111";
  D.clusters.slice(0, 40).forEach(c => {
    if (c.id < 0 || (chosen !== null && chosen !== c.id)) return;
    const m = 30, s = Math.min(width, height) - 2 * m;
    const x = (m + c.centre[0] * s + (width - Math.min(width, height)) / 2) * view.scale + view.dx;
    const y = (m + (1 - c.centre[1]) * s + (height - Math.min(width, height)) / 2) * view.scale + view.dy;
    ctx.strokeText(c.name, x, y); ctx.fillText(c.name, x, y);
  });
  status.textContent = found ? found.size + " items match" : "wheel: zoom, drag: pan";
}
function nearest(px, py) {
  let best = -1, bestD = 64;
  for (let i = 0; i < N; i++) {
    if (!lit(i)) continue;
    const d = (sx(i) - px) ** 2 + (sy(i) - py) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  }
  return best;
}
let drag = null;
canvas.addEventListener("mousedown", e => { drag = {x: e.clientX, y: e.clientY}; });
window.addEventListener("mouseup", () => { drag = null; });
canvas.addEventListener("mousemove", e => {
  const r = canvas.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
  if (drag) {
    view.dx += e.clientX - drag.x; view.dy += e.clientY - drag.y; drag = {x: e.clientX, y: e.clientY};
    tip.style.display = "none"; draw(); return;
  }
  const i = nearest(px, py);
  if (i < 0) { tip.style.display = "none"; return; }
  tip.innerHTML = "";
  const head = document.createElement("b");
  head.textContent = D.ids[i] + " \\u00b7 " + (D.c[i] < 0 ? "noise" : name[D.c[i]]);
  head.style.color = colour[D.c[i]];
  const body = document.createElement("div"); body.textContent = D.t[i];
  tip.append(head, body);
  tip.style.display = "block";
  tip.style.left = Math.min(px + 14, width - 390) + "px"; tip.style.top = Math.min(py + 14, height - 120) + "px";
});
canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
  const f = e.deltaY < 0 ? 1.25 : 0.8;
  view.dx = px - (px - view.dx) * f; view.dy = py - (py - view.dy) * f; view.scale *= f; draw();
}, {passive: false});
const legend = document.getElementById("legend");
D.clusters.forEach(c => {
  const row = document.createElement("div"); row.className = "cluster";
  const dot = document.createElement("span"); dot.className = "swatch"; dot.style.background = c.colour;
  const label = document.createElement("span"); label.textContent = c.name;
  const size = document.createElement("span"); size.className = "size"; size.textContent = c.size;
  row.append(dot, label, size);
  row.addEventListener("click", () => {
    chosen = chosen === c.id ? null : c.id;
    legend.querySelectorAll(".cluster").forEach(n => n.classList.remove("on"));
    if (chosen !== null) row.classList.add("on");
    draw();
  });
  legend.append(row);
});
document.getElementById("find").addEventListener("input", e => {
  const q = e.target.value.trim().toLowerCase();
  found = q ? new Set(D.t.map((t, i) => t.toLowerCase().includes(q) ? i : -1).filter(i => i >= 0)) : null;
  draw();
});
window.addEventListener("resize", resize);
resize();
</script>
</body>
</html>
"""
