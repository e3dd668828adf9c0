// The topics map: every point drawn on one <canvas> (no DOM node per point), so 100k points stay fluid.
// Wheel zooms around the cursor, drag pans, hover shows the item, click opens it; the legend lists topics.
// window.selfsimMap exposes screenPosition(id) and pointAt(x, y) for tests and for people poking around.

import { topicItems } from "./browse.js";
import { allows, api, cpath, errorBox, fill, h, jobBar, loading, runJob, snippet } from "./lib.js";

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22"];
const NOISE = "#b5b5b5";
const LIMITS = [5000, 20000, 100000];
const HOVER_RADIUS = 8; // CSS pixels within which the pointer picks a point

/** Colour of the i-th topic: a fixed palette, then hues spaced by the golden angle. */
function colourAt(index) {
  if (index < 0) return NOISE;
  if (index < PALETTE.length) return PALETTE[index];
  return `hsl(${Math.round((index * 137.508) % 360)}, 62%, 48%)`;
}

/** Topics are compared as strings (a fit may name them by number or by text); null: no topic. */
function topicKey(topic) {
  return topic === null || topic === undefined ? null : String(topic);
}

function isNoise(topic) {
  return topic === null || topic === "-1";
}

class TopicMap {
  constructor(wrap, points, labels, { onPick, onHover }) {
    this.wrap = wrap;
    this.canvas = h("canvas", { class: "map-canvas", id: "map-canvas", "aria-label": "Topics map" });
    this.tooltip = h("div", { class: "map-tooltip", hidden: true, role: "tooltip" });
    fill(wrap, this.canvas, this.tooltip);
    this.onPick = onPick;
    this.onHover = onHover;
    this.labels = labels; // [{topic, x, y, text, colour, size}]
    this.selected = null; // topic whose points stay bright
    this.hovered = -1;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.load(points);
    this.listen();
  }

  load(points) {
    const n = points.length;
    this.n = n;
    this.ids = new Array(n);
    this.xs = new Float32Array(n);
    this.ys = new Float32Array(n);
    this.topics = new Array(n);
    this.index = new Map();
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const p = points[i];
      this.ids[i] = p.id;
      this.xs[i] = p.x;
      this.ys[i] = p.y;
      this.topics[i] = topicKey(p.topic);
      this.index.set(p.id, i);
      minX = Math.min(minX, p.x); maxX = Math.max(maxX, p.x);
      minY = Math.min(minY, p.y); maxY = Math.max(maxY, p.y);
    }
    if (!n) { minX = minY = -1; maxX = maxY = 1; }
    this.centreX = (minX + maxX) / 2;
    this.centreY = (minY + maxY) / 2;
    this.spanX = Math.max(maxX - minX, 1e-9);
    this.spanY = Math.max(maxY - minY, 1e-9);
    this.bounds = { minX, minY };
    // Points grouped by colour so that each colour is one path and one fill.
    const groups = new Map();
    for (let i = 0; i < n; i++) {
      const key = this.topics[i];
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(i);
    }
    this.groups = [...groups.entries()].map(([topic, list]) => ({ topic, indices: Int32Array.from(list) }));
    this.buildGrid();
  }

  // A uniform grid over the data (counting sort) answers "which point is under the pointer" fast.
  buildGrid() {
    const side = Math.max(1, Math.min(512, Math.ceil(Math.sqrt(this.n / 4))));
    const cells = side * side;
    const cellOf = new Int32Array(this.n);
    const start = new Int32Array(cells + 1);
    for (let i = 0; i < this.n; i++) {
      const cx = Math.min(side - 1, Math.floor(((this.xs[i] - this.bounds.minX) / this.spanX) * side));
      const cy = Math.min(side - 1, Math.floor(((this.ys[i] - this.bounds.minY) / this.spanY) * side));
      cellOf[i] = cy * side + cx;
      start[cellOf[i] + 1]++;
    }
    for (let c = 0; c < cells; c++) start[c + 1] += start[c];
    const fillAt = start.slice(0, cells);
    const items = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) items[fillAt[cellOf[i]]++] = i;
    this.grid = { side, start, items };
  }

  colourOf(topic) {
    return this.colours?.get(topic) ?? NOISE;
  }

  setColours(colours) {
    this.colours = colours;
    this.schedule();
  }

  get scale() { // CSS pixels per data unit
    const fit = Math.min((this.width - 40) / this.spanX, (this.height - 40) / this.spanY);
    return Math.max(fit, 1e-9) * this.zoom;
  }

  toScreenX(x, scale) { return (x - this.centreX) * scale + this.width / 2 + this.panX; }
  toScreenY(y, scale) { return (this.centreY - y) * scale + this.height / 2 + this.panY; }

  resize() {
    const rect = this.wrap.getBoundingClientRect();
    this.width = Math.max(50, rect.width);
    this.height = Math.max(50, rect.height);
    this.ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.width * this.ratio);
    this.canvas.height = Math.round(this.height * this.ratio);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.draw();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    if (!this.width) return;
    const g = this.canvas.getContext("2d");
    g.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    g.clearRect(0, 0, this.width, this.height);
    const scale = this.scale;
    const base = this.n > 50000 ? 1 : this.n > 10000 ? 1.4 : this.n > 1000 ? 2.2 : 3.5;
    const r = Math.min(7, base * Math.max(1, Math.sqrt(this.zoom)));
    const round = this.n <= 20000; // circles look better; squares are cheaper where there are many points
    const w = this.width, hgt = this.height;
    for (const group of this.groups) {
      const dim = this.selected !== null && group.topic !== this.selected;
      g.globalAlpha = dim ? 0.12 : 0.85;
      g.fillStyle = this.colourOf(group.topic);
      g.beginPath();
      for (const i of group.indices) {
        const sx = this.toScreenX(this.xs[i], scale);
        const sy = this.toScreenY(this.ys[i], scale);
        if (sx < -r || sy < -r || sx > w + r || sy > hgt + r) continue;
        if (round) {
          g.moveTo(sx + r, sy);
          g.arc(sx, sy, r, 0, 2 * Math.PI);
        } else {
          g.rect(sx - r, sy - r, 2 * r, 2 * r);
        }
      }
      g.fill();
    }
    g.globalAlpha = 1;
    if (this.hovered >= 0) {
      g.beginPath();
      g.arc(this.toScreenX(this.xs[this.hovered], scale), this.toScreenY(this.ys[this.hovered], scale), r + 3, 0, 7);
      g.lineWidth = 2;
      g.strokeStyle = "#111";
      g.stroke();
    }
    this.drawLabels(g, scale);
  }

  // Topic labels at their centres, biggest topics first; a label that would overlap one drawn is skipped.
  drawLabels(g, scale) {
    g.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.lineJoin = "round";
    const placed = [];
    for (const label of this.labels) {
      if (this.selected !== null && label.topic !== this.selected) continue;
      const sx = this.toScreenX(label.x, scale);
      const sy = this.toScreenY(label.y, scale);
      const width = g.measureText(label.text).width + 8;
      const box = [sx - width / 2, sy - 9, sx + width / 2, sy + 9];
      if (box[2] < 0 || box[0] > this.width || box[3] < 0 || box[1] > this.height) continue;
      if (placed.some((b) => b[0] < box[2] && box[0] < b[2] && b[1] < box[3] && box[1] < b[3])) continue;
      placed.push(box);
      g.lineWidth = 4;
      g.strokeStyle = "rgba(255, 255, 255, 0.92)";
      g.strokeText(label.text, sx, sy);
      g.fillStyle = "#1b1b1b";
      g.fillText(label.text, sx, sy);
    }
  }

  /** The index of the point nearest (x, y) in canvas CSS pixels within HOVER_RADIUS, or -1. */
  nearest(x, y) {
    if (!this.n) return -1;
    const scale = this.scale;
    const dataX = this.centreX + (x - this.width / 2 - this.panX) / scale;
    const dataY = this.centreY - (y - this.height / 2 - this.panY) / scale;
    const reach = HOVER_RADIUS / scale;
    const { side, start, items } = this.grid;
    const cell = (value, min, span) => Math.floor(((value - min) / span) * side);
    const x0 = Math.max(0, cell(dataX - reach, this.bounds.minX, this.spanX));
    const x1 = Math.min(side - 1, cell(dataX + reach, this.bounds.minX, this.spanX));
    const y0 = Math.max(0, cell(dataY - reach, this.bounds.minY, this.spanY));
    const y1 = Math.min(side - 1, cell(dataY + reach, this.bounds.minY, this.spanY));
    let best = -1;
    let bestDistance = reach * reach;
    for (let cy = y0; cy <= y1; cy++) {
      for (let cx = x0; cx <= x1; cx++) {
        const c = cy * side + cx;
        for (let k = start[c]; k < start[c + 1]; k++) {
          const i = items[k];
          if (this.selected !== null && this.topics[i] !== this.selected) continue;
          const dx = this.xs[i] - dataX;
          const dy = this.ys[i] - dataY;
          const distance = dx * dx + dy * dy;
          if (distance <= bestDistance) { best = i; bestDistance = distance; }
        }
      }
    }
    return best;
  }

  listen() {
    const canvas = this.canvas;
    let drag = null;
    const local = (event) => {
      const rect = canvas.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    };
    this.handlers = {
      pointerdown: (event) => {
        const [x, y] = local(event);
        drag = { x, y, panX: this.panX, panY: this.panY, moved: false };
        canvas.setPointerCapture?.(event.pointerId);
      },
      pointermove: (event) => {
        const [x, y] = local(event);
        if (drag) {
          if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 4) drag.moved = true;
          if (drag.moved) {
            this.panX = drag.panX + x - drag.x;
            this.panY = drag.panY + y - drag.y;
            canvas.classList.add("dragging");
            this.hover(-1, x, y);
            this.schedule();
            return;
          }
        }
        this.hover(this.nearest(x, y), x, y);
      },
      pointerup: (event) => {
        const [x, y] = local(event);
        const click = drag && !drag.moved;
        drag = null;
        canvas.classList.remove("dragging");
        if (click) {
          const picked = this.nearest(x, y);
          if (picked >= 0) this.onPick(this.ids[picked]);
        }
      },
      pointerleave: () => { if (!drag) this.hover(-1, 0, 0); },
      wheel: (event) => {
        event.preventDefault();
        const [x, y] = local(event);
        const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
        const zoom = Math.min(500, Math.max(0.5, this.zoom * factor));
        const applied = zoom / this.zoom;
        this.panX = x - this.width / 2 - (x - this.width / 2 - this.panX) * applied;
        this.panY = y - this.height / 2 - (y - this.height / 2 - this.panY) * applied;
        this.zoom = zoom;
        this.hover(this.nearest(x, y), x, y);
        this.schedule();
      },
    };
    for (const [name, handler] of Object.entries(this.handlers)) {
      canvas.addEventListener(name, handler, name === "wheel" ? { passive: false } : undefined);
    }
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.wrap);
    this.resize();
  }

  hover(index, x, y) {
    const changed = index !== this.hovered;
    this.hovered = index;
    this.canvas.style.cursor = index >= 0 ? "pointer" : "";
    if (index < 0) {
      this.tooltip.hidden = true;
    } else {
      this.tooltip.hidden = false;
      const left = Math.min(x + 14, this.width - 260);
      this.tooltip.style.left = `${Math.max(4, left)}px`;
      this.tooltip.style.top = `${Math.min(y + 14, this.height - 80)}px`;
      if (changed) this.onHover(this.ids[index], this.topics[index], this.tooltip);
    }
    if (changed) this.schedule();
  }

  select(topic) {
    this.selected = topic;
    this.schedule();
  }

  resetView() {
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.schedule();
  }

  /** Where a point is on screen (viewport CSS pixels), or null when it is unknown or off the canvas. */
  screenPosition(id) {
    const i = this.index.get(id);
    if (i === undefined) return null;
    const scale = this.scale;
    const x = this.toScreenX(this.xs[i], scale);
    const y = this.toScreenY(this.ys[i], scale);
    if (x < 0 || y < 0 || x > this.width || y > this.height) return null;
    const rect = this.canvas.getBoundingClientRect();
    return { x: rect.left + x, y: rect.top + y };
  }

  /** The id a click at viewport position (x, y) would open, or null. */
  pointAt(x, y) {
    const rect = this.canvas.getBoundingClientRect();
    const i = this.nearest(x - rect.left, y - rect.top);
    return i >= 0 ? this.ids[i] : null;
  }

  destroy() {
    for (const [name, handler] of Object.entries(this.handlers)) this.canvas.removeEventListener(name, handler);
    this.observer.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

function setHash(ctx, params) {
  history.replaceState(null, "", ctx.hash("map", null, params));
}

export async function renderMap(ctx, view) {
  const params = ctx.params;
  let limit = LIMITS.includes(Number(params.get("limit"))) ? Number(params.get("limit")) : 20000;
  let map = null;
  const texts = new Map(); // id -> text snippet, fetched on hover
  let hoverTimer = 0;

  const size = h("select", { id: "map-limit", "aria-label": "Points drawn" },
    LIMITS.map((n) => h("option", { value: String(n) }, `${n.toLocaleString()} points`)));
  size.value = String(limit);
  const reset = h("button", { type: "button", onclick: () => map?.resetView() }, "Reset view");
  const summary = h("span", { class: "muted", id: "map-summary" });
  const fitArea = h("div", { class: "fit-area" });
  const wrap = h("div", { class: "map-wrap" }, loading("Loading the map"));
  const legend = h("ul", { class: "legend", id: "legend" });
  const topicPanel = h("div", { id: "topic-panel" });
  fill(view,
    h("div", { class: "card toolbar" }, size, reset, summary, fitArea),
    h("div", { class: "map-layout" }, wrap,
      h("aside", { class: "card map-side" }, h("h2", {}, "Topics"), legend, topicPanel)));
  ctx.onCleanup(() => {
    clearTimeout(hoverTimer);
    map?.destroy();
    if (window.selfsimMap?.owner === map) delete window.selfsimMap;
  });

  const onHover = (id, topic, tooltip) => {
    const head = h("strong", {}, id);
    const about = topic === null || topic === undefined ? "" : ` · topic ${topic}`;
    const body = h("div", { class: "muted" }, texts.get(id) ?? "…");
    fill(tooltip, head, about, body);
    clearTimeout(hoverTimer);
    if (texts.has(id)) return;
    hoverTimer = setTimeout(async () => {
      try {
        const item = await api(cpath(ctx.collection, `/items/${encodeURIComponent(id)}`));
        texts.set(id, snippet(item.text, 200));
      } catch (error) {
        texts.set(id, error.message);
      }
      if (map && map.hovered >= 0 && map.ids[map.hovered] === id) fill(body, texts.get(id));
    }, 120);
  };

  let selectedTopic = null;
  function selectTopic(topic) {
    const chosen = selectedTopic === topic ? null : topic;
    selectedTopic = chosen;
    map?.select(chosen);
    for (const row of legend.querySelectorAll("li")) row.classList.toggle("active", row.dataset.topic === chosen);
    const next = { limit: String(limit) };
    if (chosen !== null) next.topic = chosen;
    setHash(ctx, next);
    if (chosen === null) { fill(topicPanel); return; }
    const items = h("div", { class: "topic-items" });
    fill(topicPanel, h("h3", {}, isNoise(chosen) ? "Items in no topic" : `Topic ${chosen}`, " ",
      h("a", { href: ctx.hash("topic", chosen), class: "muted" }, "open as a page")), items);
    topicItems(ctx, chosen, items, 0, 20, true);
  }

  // Topics and the map load side by side; the legend (and the fit button) need not wait for the map,
  // whose first computation for a collection can take a while.
  let loads = 0;
  async function load() {
    const mine = ++loads;
    const current = () => ctx.isCurrent() && mine === loads;
    const wanted = selectedTopic ?? params.get("topic");
    map?.destroy();
    map = null;
    if (window.selfsimMap) delete window.selfsimMap;
    fill(wrap, loading("Loading the map (the first one of a collection takes a while)"));
    fill(legend, loading("Loading topics"));
    fill(topicPanel);
    fill(summary);
    const mapRequest = api(cpath(ctx.collection, "/map"), { query: { limit } });
    mapRequest.catch(() => {}); // answered below, after the topics
    const topics = ((await api(cpath(ctx.collection, "/topics"))).topics || [])
      .map((t) => ({ ...t, key: topicKey(t.topic) })); // largest first
    if (!current()) return;
    const colours = new Map();
    topics.filter((t) => !isNoise(t.key)).forEach((t, i) => colours.set(t.key, colourAt(i)));
    fillFitArea(topics.length === 0);
    selectedTopic = null;
    if (!topics.length) {
      fill(legend, h("li", { class: "muted" }, "No topics have been fitted for this collection yet."));
    } else {
      fill(legend, topics.map((t) => h("li", { dataset: { topic: t.key } },
        h("button", { type: "button", class: "legend-row", onclick: () => selectTopic(t.key) },
          h("span", { class: "swatch", style: `background:${colours.get(t.key) ?? NOISE}` }),
          h("span", { class: "topic-id" }, isNoise(t.key) ? "noise" : `#${t.topic}`),
          h("span", { class: "keywords" }, (t.keywords || []).slice(0, 5).join(", ") || "—"),
          h("span", { class: "muted size" }, (t.size ?? 0).toLocaleString())))));
      if (wanted !== null && topics.some((t) => t.key === wanted)) selectTopic(wanted);
    }

    let mapAnswer;
    try {
      mapAnswer = await mapRequest;
    } catch (error) {
      if (current()) fill(wrap, errorBox(error));
      return;
    }
    if (!current()) return;
    const points = mapAnswer.points || [];
    const sizes = new Map(topics.map((t) => [t.key, t.size]));
    const labels = (mapAnswer.topics || []).filter((t) => !isNoise(topicKey(t.topic))).map((t) => ({
      topic: topicKey(t.topic), x: t.x, y: t.y,
      text: (t.keywords || []).slice(0, 3).join(" · ") || `topic ${t.topic}`, size: sizes.get(topicKey(t.topic)) ?? 0,
    })).sort((a, b) => b.size - a.size);
    const total = mapAnswer.total ?? points.length;
    fill(summary, points.length < total
      ? `${points.length.toLocaleString()} of ${total.toLocaleString()} items drawn (a sample)`
      : `${points.length.toLocaleString()} items`);
    if (!points.length) {
      fill(wrap, h("p", { class: "muted empty" }, "No points to draw: the collection is empty."));
      return;
    }
    map = new TopicMap(wrap, points, labels, {
      onPick: (id) => { location.hash = ctx.hash("item", id); },
      onHover,
    });
    map.setColours(colours);
    map.select(selectedTopic);
    window.selfsimMap = {
      owner: map, ready: true, count: points.length, total,
      screenPosition: (id) => map.screenPosition(id),
      pointAt: (x, y) => map.pointAt(x, y),
      ids: (n = 10) => map.ids.slice(0, n),
    };
  }

  function fillFitArea(none) {
    if (!allows(ctx.role, "write")) {
      fill(fitArea, none ? h("span", { class: "muted" }, "No topics yet; fitting them needs a write key.") : null);
      return;
    }
    const bar = jobBar();
    const status = h("span");
    const button = h("button", { type: "button", id: "fit-topics", class: none ? "primary" : "" },
      none ? "Fit topics" : "Refit topics");
    button.addEventListener("click", async () => {
      button.disabled = true;
      fill(status);
      try {
        await runJob(() => api(cpath(ctx.collection, "/topics"), { method: "POST", body: { filter: [], min_size: null } }),
          bar, "Fitting topics");
        if (ctx.isCurrent()) await load();
      } catch (error) {
        fill(status, errorBox(error));
        button.disabled = false;
      }
    });
    fill(fitArea, none ? h("span", { class: "muted" }, "No topics have been fitted yet. ") : null, button, bar, status);
  }

  size.addEventListener("change", () => {
    limit = Number(size.value);
    const next = { limit: String(limit) };
    if (selectedTopic !== null) next.topic = selectedTopic;
    setHash(ctx, next);
    load().catch((error) => fill(legend, errorBox(error)));
  });
  try {
    await load();
  } catch (error) {
    if (ctx.isCurrent()) fill(legend, errorBox(error));
  }
}
