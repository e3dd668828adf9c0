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


def _view_limits(coordinates: np.ndarray, margin: float = 0.04) -> tuple[tuple[float, float], tuple[float, float]]:
    # A few stray points far from the rest would otherwise shrink every topic into a corner of white space.
    low, high = np.percentile(coordinates, 0.5, axis=0), np.percentile(coordinates, 99.5, axis=0)
    span = np.maximum(high - low, 1e-9)
    low, high = low - margin * span, high + margin * span
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def _overlaps(box, placed) -> bool:  # noqa: ANN001 - matplotlib Bbox
    return any(box.overlaps(other) for other in placed)


def place_labels(axes, names: Mapping[int, str], centres: Mapping[int, tuple[float, float]],  # noqa: ANN001
                 order: Sequence[int], fontsize: float = 8.5, most: int = 40) -> list[int]:
    """Write each cluster's name at its centre, largest clusters first; a name that would overlap one already
    written is moved up or down (by up to three lines), else left out (the legend still names it).
    Returns the clusters labelled."""
    from matplotlib import patheffects

    renderer = axes.figure.canvas.get_renderer()
    placed, labelled = [], []
    for cluster in list(order)[:most]:
        if cluster not in centres:
            continue
        x, y = centres[cluster]
        text = axes.text(x, y, names.get(cluster, str(cluster)), ha="center", va="center", fontsize=fontsize,
                         color="#111111", weight="bold", zorder=5)
        text.set_path_effects([patheffects.withStroke(linewidth=3, foreground="white")])
        box = text.get_window_extent(renderer).expanded(1.05, 1.15)
        shift = None
        for step in (0, 1, -1, 2, -2, 3, -3):
            moved = box.translated(0, step * box.height)
            if not _overlaps(moved, placed):
                shift = step * box.height
                box = moved
                break
        if shift is None:
            text.remove()
            continue
        if shift:
            x_display, y_display = axes.transData.transform((x, y))
            text.set_position(axes.transData.inverted().transform((x_display, y_display + shift)))
        placed.append(box)
        labelled.append(cluster)
    return labelled


def write_png(path: str | Path, coordinates: np.ndarray, labels: np.ndarray, names: Mapping[int, str],
              title: str = "", size: float = 10.0, max_labels: int = 40, legend: int = 20) -> Path:
    """Draw the map as a PNG that reads at 10k+ points: a grey density shading under the points, points sized for
    the number of items, cluster names at their centres without overlap, and a legend of the largest clusters."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        raise ConfigError("drawing a PNG needs matplotlib; reinstall selfsim or run pip install matplotlib, "
                          "or write only the HTML map.") from None
    path = Path(path)
    coordinates, labels = np.asarray(coordinates, dtype=np.float64), np.asarray(labels)
    count = max(len(labels), 1)
    figure, axes = plt.subplots(figsize=(size * 1.35, size * 0.85), dpi=130)
    (x_low, x_high), (y_low, y_high) = _view_limits(coordinates)
    if count >= 500:  # density: where points pile up the shading darkens, so dense topics read as dense
        axes.hexbin(coordinates[:, 0], coordinates[:, 1], gridsize=70, bins="log", cmap="Greys", mincnt=1,
                    alpha=0.25, linewidths=0, extent=(x_low, x_high, y_low, y_high), zorder=1)
    # about 5 pt^2 at 10k points, larger for fewer; the alpha lets overlaps show as more colour
    point = float(np.clip(50000.0 / count, 2.0, 40.0))
    alpha = float(np.clip(0.35 + 2000.0 / count, 0.35, 0.9))
    noise = labels < 0
    if noise.any():
        axes.scatter(coordinates[noise, 0], coordinates[noise, 1], s=point * 0.6, c=NOISE_COLOUR, linewidths=0,
                     zorder=2)
    colours = [colour_of(int(c)) for c in labels[~noise]]
    axes.scatter(coordinates[~noise, 0], coordinates[~noise, 1], s=point, c=colours, linewidths=0, alpha=alpha,
                 zorder=3)
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    sizes = {int(c): int((labels == c).sum()) for c in np.unique(labels) if c >= 0}
    order = sorted(sizes, key=lambda c: (-sizes[c], c))
    place_labels(axes, names, _centres(coordinates, labels), order, most=max_labels)
    handles = [Line2D([], [], marker="o", linestyle="", markersize=7, color=colour_of(c),
                      label=f"{c}: {names.get(c, str(c))} ({sizes[c]:,})") for c in order[:legend]]
    if len(order) > legend:
        handles.append(Line2D([], [], linestyle="", label=f"... {len(order) - legend} smaller topics"))
    if noise.any():
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=7, color=NOISE_COLOUR,
                              label=f"no topic ({int(noise.sum()):,})"))
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                title="topic: keywords (items)", title_fontsize=8, alignment="left")
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    for side in axes.spines.values():
        side.set_color("#dddddd")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_html(path: str | Path, coordinates: np.ndarray, labels: np.ndarray, names: Mapping[int, str],
               ids: Sequence[str], texts: Sequence[str], title: str = "selfsim map",
               snippet: int | None = None) -> Path:
    """Write a self-contained interactive map (one file, works offline) that stays fluid at 100k points.

    ``snippet``: characters of each text kept for the tooltip (default 300, fewer above 20k items so the page
    stays small).
    """
    path = Path(path)
    labels = np.asarray(labels)
    if not len(coordinates) == len(labels) == len(ids) == len(texts):
        raise ConfigError("coordinates, labels, ids and texts must have the same length.")
    if snippet is None:
        snippet = 300 if len(labels) <= 20_000 else 120
    coordinates = np.asarray(coordinates, dtype=np.float64)
    (x_low, x_high), (y_low, y_high) = _view_limits(coordinates, margin=0.02)
    low, high = np.array([x_low, y_low]), np.array([x_high, y_high])
    scaled = (coordinates - low) / np.maximum(high - low, 1e-9)  # [0, 1] for all but the few strays
    sizes = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
    centres = _centres(scaled, labels)
    clusters = [{"id": c, "name": names.get(c, "noise" if c < 0 else f"cluster {c}"), "size": sizes[c],
                 "colour": colour_of(c), "centre": [round(v, 4) for v in centres.get(c, (0.5, 0.5))]}
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


# The page writes the points straight into the canvas's pixels (no path or call per point), so 100k points
# redraw in milliseconds; redraws are coalesced into animation frames, and the point under the pointer is found
# through a grid over the data, not by scanning every point.
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
  #side p { color: #666; margin: 0 0 8px; font-size: 12px; }
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
  <p>Legend: click a topic to show it alone. Darker, denser colour means more items.</p>
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
const X = Float32Array.from(D.x), Y = Float32Array.from(D.y), C = Int32Array.from(D.c);
D.clusters.forEach(c => { colour[c.id] = c.colour; name[c.id] = c.name; });
document.getElementById("title").textContent = D.title + " (" + N.toLocaleString() + " items)";
const members = {};  // cluster -> indices, drawn one colour at a time
for (let i = 0; i < N; i++) (members[C[i]] = members[C[i]] || []).push(i);
const G = 128, grid = new Map();  // a grid over [0, 1]^2 for finding the point under the pointer
function cell(gx, gy) { return gx * 4096 + gy; }
for (let i = 0; i < N; i++) {
  const k = cell(Math.max(0, Math.min(G - 1, Math.floor(X[i] * G))),
                 Math.max(0, Math.min(G - 1, Math.floor(Y[i] * G))));
  if (!grid.has(k)) grid.set(k, []);
  grid.get(k).push(i);
}
let view = {scale: 1, dx: 0, dy: 0}, chosen = null, found = null, width = 0, height = 0, pending = false;

function frame() { const m = 30, s = Math.min(width, height) - 2 * m;
  return {m: m, s: s, ox: (width - Math.min(width, height)) / 2, oy: (height - Math.min(width, height)) / 2}; }
function toScreen(x, y, f) {
  return [(f.m + x * f.s + f.ox) * view.scale + view.dx, (f.m + (1 - y) * f.s + f.oy) * view.scale + view.dy]; }
function toData(px, py, f) {
  return [((px - view.dx) / view.scale - f.m - f.ox) / f.s, 1 - ((py - view.dy) / view.scale - f.m - f.oy) / f.s]; }
const LIT = new Uint8Array(N).fill(1);  // 1: drawn in colour; 0: faded (another topic chosen, or no match)
function relight() {
  for (let i = 0; i < N; i++) LIT[i] = (found === null || found.has(i)) && (chosen === null || C[i] === chosen) ? 1 : 0;
}
function lit(i) { return LIT[i] === 1; }
const RGB = {};
D.clusters.forEach(c => { const v = parseInt(c.colour.slice(1), 16); RGB[c.id] = [v >> 16, (v >> 8) & 255, v & 255]; });
function resize() {
  const r = canvas.getBoundingClientRect(), ratio = window.devicePixelRatio || 1;
  width = r.width; height = r.height;
  canvas.width = Math.max(1, Math.round(width * ratio)); canvas.height = Math.max(1, Math.round(height * ratio));
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  draw();
}
function request() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } }
let image = null;
function draw() {
  // Points are written straight into the pixels (a small square each, blended over what is there), so overlaps
  // darken where items are dense; this costs a few milliseconds for 100k points.
  const ratio = window.devicePixelRatio || 1, W = canvas.width, H = canvas.height;
  if (!image || image.width !== W || image.height !== H) image = ctx.createImageData(W, H);
  const px = image.data;
  px.fill(255);
  const f = frame(), a = f.s * view.scale * ratio;
  const bx = ((f.m + f.ox) * view.scale + view.dx) * ratio, by = ((f.m + f.s + f.oy) * view.scale + view.dy) * ratio;
  const size = Math.max(1, Math.round(Math.max(1.5, Math.min(6, 420 / Math.sqrt(N))) * Math.sqrt(view.scale) * ratio));
  const strong = Math.max(0.3, Math.min(0.85, 0.3 + 3000 / N));
  for (const pass of [0, 1]) {
    for (let i = 0; i < N; i++) {
      if (LIT[i] !== pass) continue;
      const x0 = Math.round(bx + X[i] * a - size / 2), y0 = Math.round(by - Y[i] * a - size / 2);
      if (x0 >= W || y0 >= H || x0 + size <= 0 || y0 + size <= 0) continue;
      const rgb = RGB[C[i]], al = pass ? (C[i] < 0 ? strong * 0.6 : strong) : 0.06;
      const xa = Math.max(0, x0), xb = Math.min(W, x0 + size), yb = Math.min(H, y0 + size);
      for (let yy = Math.max(0, y0); yy < yb; yy++) {
        let o = (yy * W + xa) * 4;
        for (let xx = xa; xx < xb; xx++, o += 4) {
          px[o] += (rgb[0] - px[o]) * al; px[o + 1] += (rgb[1] - px[o + 1]) * al;
          px[o + 2] += (rgb[2] - px[o + 2]) * al;
        }
      }
    }
  }
  ctx.putImageData(image, 0, 0);
  labels(f);
  status.textContent = (found ? found.size.toLocaleString() + " items match \u00b7 " : "") + "wheel: zoom, drag: pan";
}
function labels(f) {
  // names at topic centres, largest topics first; a name that would overlap one already drawn is left out
  ctx.globalAlpha = 1; ctx.font = "bold 12px system-ui, sans-serif"; ctx.textAlign = "center";
  ctx.textBaseline = "middle"; ctx.lineWidth = 3; ctx.strokeStyle = "#fff"; ctx.fillStyle = "#111";
  const placed = [];
  for (const c of D.clusters) {
    if (c.id < 0 || (chosen !== null && chosen !== c.id)) continue;
    const [x, y] = toScreen(c.centre[0], c.centre[1], f), w = ctx.measureText(c.name).width + 6, hh = 16;
    const box = [x - w / 2, y - hh / 2, x + w / 2, y + hh / 2];
    if (box[2] < 0 || box[0] > width || box[3] < 0 || box[1] > height) continue;
    if (placed.some(b => b[0] < box[2] && box[0] < b[2] && b[1] < box[3] && box[1] < b[3])) continue;
    placed.push(box);
    ctx.strokeText(c.name, x, y); ctx.fillText(c.name, x, y);
  }
}
function nearest(px, py) {
  const f = frame(), [x, y] = toData(px, py, f), reach = 8 / (f.s * view.scale);  // 8 pixels in data units
  const g0 = Math.floor((x - reach) * G), g1 = Math.floor((x + reach) * G);
  const h0 = Math.floor((y - reach) * G), h1 = Math.floor((y + reach) * G);
  let best = -1, bestD = 64;
  for (let gx = Math.max(0, g0); gx <= Math.min(G - 1, g1); gx++) {
    for (let gy = Math.max(0, h0); gy <= Math.min(G - 1, h1); gy++) {
      for (const i of grid.get(cell(gx, gy)) || []) {
        if (!lit(i)) continue;
        const [sx, sy] = toScreen(X[i], Y[i], f), d = (sx - px) ** 2 + (sy - py) ** 2;
        if (d < bestD) { bestD = d; best = i; }
      }
    }
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
    tip.style.display = "none"; request(); return;
  }
  const i = nearest(px, py);
  if (i < 0) { tip.style.display = "none"; return; }
  tip.innerHTML = "";
  const head = document.createElement("b");
  head.textContent = D.ids[i] + " \\u00b7 " + (C[i] < 0 ? "noise" : name[C[i]]);
  head.style.color = colour[C[i]];
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
  view.dx = px - (px - view.dx) * f; view.dy = py - (py - view.dy) * f; view.scale *= f; request();
}, {passive: false});
const legend = document.getElementById("legend");
D.clusters.forEach(c => {
  const row = document.createElement("div"); row.className = "cluster";
  const dot = document.createElement("span"); dot.className = "swatch"; dot.style.background = c.colour;
  const label = document.createElement("span"); label.textContent = (c.id < 0 ? "" : c.id + ": ") + c.name;
  const size = document.createElement("span"); size.className = "size"; size.textContent = c.size.toLocaleString();
  row.append(dot, label, size);
  row.addEventListener("click", () => {
    chosen = chosen === c.id ? null : c.id;
    legend.querySelectorAll(".cluster").forEach(n => n.classList.remove("on"));
    if (chosen !== null) row.classList.add("on");
    relight(); request();
  });
  legend.append(row);
});
const lower = D.t.map(t => t.toLowerCase());
document.getElementById("find").addEventListener("input", e => {
  const q = e.target.value.trim().toLowerCase();
  found = null;
  if (q) { found = new Set(); for (let i = 0; i < N; i++) if (lower[i].includes(q)) found.add(i); }
  relight(); request();
});
window.addEventListener("resize", resize);
window.selfsimMap = {points: N, draw: draw};  // for tests: how many points, and a synchronous redraw
resize();
</script>
</body>
</html>
"""
