// Search (query, mode, k, filters; hits with their matching passage and signals, "why?") and the item page
// (text, metadata, a classifier's prediction with "why?", neighbours, the recommender's similar items).

import {
  api, cpath, errorBox, fill, formatScore, h, itemLink, loading, metadataChips, parseFilters, session, snippet,
  whyButton,
} from "./lib.js";

const CONTEXT = 160; // characters shown either side of the matching passage before "show all"

/** The text with `span` marked; long texts are cut to the passage and some context until expanded. */
export function highlightedText(text, span) {
  const body = String(text ?? "");
  let [start, end] = Array.isArray(span) ? span : [0, 0];
  start = Math.max(0, Math.min(body.length, Number(start) || 0));
  end = Math.max(start, Math.min(body.length, Number(end) || 0));
  const container = h("div", { class: "hit-text" });
  const from = Math.max(0, start - CONTEXT);
  const to = Math.min(body.length, end + CONTEXT);
  const cut = from > 0 || to < body.length;
  // A text of one chunk matches as a whole: marking all of it would only shout.
  const wholeText = start === 0 && end >= body.trimEnd().length;
  const draw = (whole) => {
    const a = whole ? 0 : from;
    const b = whole ? body.length : to;
    fill(container,
      !whole && a > 0 ? "…" : null,
      body.slice(a, start),
      end > start ? h("mark", { class: wholeText ? "span whole" : "span" }, body.slice(start, end)) : null,
      body.slice(end, b),
      !whole && b < body.length ? "…" : null,
      cut ? h("button", { type: "button", class: "link more", onclick: () => draw(!whole) },
        whole ? " show less" : " show all") : null);
  };
  draw(false);
  return container;
}

function signalBadges(signals) {
  return Object.entries(signals || {}).map(([name, signal]) =>
    h("span", { class: `signal signal-${name}`, title: `${name} rank ${signal.rank}, score ${signal.score}` },
      `${name} #${signal.rank} · ${formatScore(signal.score)}`));
}

/** One hit: id, score, signals, metadata, highlighted text, and (with `explain`) a "why?" link. */
export function hitCard(collection, hit, rank, explain) {
  const panel = h("div", { class: "explain-panel", hidden: true });
  return h("li", { class: "hit", dataset: { id: hit.id } },
    h("div", { class: "hit-head" },
      h("span", { class: "rank" }, `${rank}.`),
      itemLink(collection, hit.id),
      h("span", { class: "score", title: "score" }, formatScore(hit.score)),
      signalBadges(hit.signals),
      explain ? whyButton(panel, explain) : null),
    metadataChips(hit.metadata),
    highlightedText(hit.text, hit.span),
    panel);
}

function field(label, control) {
  return h("label", { class: "field" }, h("span", {}, label), control);
}

export async function renderSearch(ctx, view) {
  const { params } = ctx;
  const query = h("input", { type: "search", name: "q", id: "query", value: params.get("q") || "",
    placeholder: "Search by meaning or keywords", "aria-label": "Query", required: true, maxlength: "2000" });
  const mode = h("select", { name: "mode", id: "mode" },
    ["hybrid", "dense", "keyword"].map((m) => h("option", { value: m }, m)));
  mode.value = params.get("mode") || "hybrid";
  const k = h("input", { type: "number", name: "k", id: "k", min: "1", max: "1000", value: params.get("k") || "10" });
  const filter = h("textarea", { name: "filter", id: "filter", rows: "2", value: params.get("filter") || "",
    placeholder: "kind=function\nyear>=2020, lang in en,de" });
  const form = h("form", { class: "card search-form", id: "search-form" },
    h("div", { class: "search-row" }, query, h("button", { type: "submit", class: "primary" }, "Search")),
    h("div", { class: "options" }, field("Mode", mode), field("k", k),
      h("label", { class: "field grow" }, h("span", {}, "Filters (one per line or comma-separated)"), filter)));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams({ q: query.value, mode: mode.value, k: k.value });
    if (filter.value.trim()) next.set("filter", filter.value);
    const hash = ctx.hash("search", null, next);
    if (location.hash === hash) run(); else location.hash = hash;
  });
  const results = h("section", { class: "results", id: "results", "aria-live": "polite" });
  fill(view, form, results);

  async function run() {
    const text = query.value.trim();
    if (!text) return;
    const body = { query: text, k: Number(k.value) || 10, mode: mode.value, filter: parseFilters(filter.value) };
    fill(results, loading("Searching"));
    try {
      const answer = await api(cpath(ctx.collection, "/search"), { method: "POST", body });
      if (!ctx.isCurrent()) return;
      const hits = answer.hits || [];
      const took = typeof answer.took_ms === "number" ? ` in ${answer.took_ms.toFixed(1)} ms` : "";
      fill(results,
        h("p", { class: "muted summary" }, `${hits.length} ${hits.length === 1 ? "hit" : "hits"}${took}`),
        hits.length ? h("ol", { class: "hits" }, hits.map((hit, i) => hitCard(ctx.collection, hit, i + 1,
          () => api(cpath(ctx.collection, "/explain/search"), { method: "POST", body: { query: text, item_id: hit.id } }))))
          : h("p", {}, "Nothing matched; try other words, another mode, or fewer filters."));
    } catch (error) {
      if (ctx.isCurrent()) fill(results, errorBox(error));
    }
  }
  if (query.value.trim()) await run();
  else query.focus();
}

function percent(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : String(value ?? "");
}

/** A prediction: the label, its confidence, the runners-up, and a "why?" from POST /explain/classify. */
function predictionCard(ctx, item, task, prediction) {
  const panel = h("div", { class: "explain-panel", hidden: true });
  const explain = () => api(cpath(ctx.collection, "/explain/classify"),
    { method: "POST", body: { item_id: item.id, task } });
  const confidence = prediction.probability ?? prediction.confidence;
  const others = Object.entries(prediction.probabilities || {})
    .filter(([label]) => label !== prediction.label).sort((a, b) => b[1] - a[1]).slice(0, 3);
  return h("div", { class: "prediction", dataset: { label: prediction.label } },
    h("div", { class: "hit-head" },
      h("span", { class: "muted" }, `${task}:`),
      h("strong", { class: "predicted-label" }, prediction.label),
      h("span", { class: "score", title: `confidence ${formatScore(confidence)}` }, percent(confidence)),
      whyButton(panel, explain)),
    others.length ? h("p", { class: "muted runners-up" },
      "then ", others.map(([label, value]) => `${label} ${percent(value)}`).join(" · ")) : null,
    panel);
}

/** The "Classify" block: a task (label set) name, remembered for the tab, and the item's predicted class. */
function classifyBlock(ctx, item) {
  const task = h("input", { type: "text", id: "classify-task", value: session.task || "", required: true,
    maxlength: "200", placeholder: "a label set with a fitted classifier", "aria-label": "Task" });
  const form = h("form", { class: "toolbar", id: "classify-form" },
    h("label", { class: "field task-field" }, h("span", {}, "Task (label set)"), task),
    h("button", { type: "submit", class: "primary" }, "Predict"));
  const result = h("div", { id: "classify-result", "aria-live": "polite" });
  let asked = 0; // only the latest prediction is shown when several are in flight
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = task.value.trim();
    if (!name) return;
    session.task = name;
    const mine = ++asked;
    fill(result, loading("Classifying"));
    try {
      const answer = await api(cpath(ctx.collection, `/classifiers/${encodeURIComponent(name)}/predict`),
        { method: "POST", body: { ids: [item.id] } });
      if (mine !== asked || !ctx.isCurrent()) return;
      const [prediction] = answer.predictions || [];
      fill(result, prediction ? predictionCard(ctx, item, name, prediction)
        : h("p", { class: "muted" }, "The classifier answered no prediction."));
    } catch (error) {
      if (mine === asked && ctx.isCurrent()) fill(result, errorBox(error));
    }
  });
  return h("section", { class: "card", id: "classify" }, h("h2", {}, "Classify"), form, result);
}

export async function renderItem(ctx, view) {
  const id = ctx.argument;
  if (!id) { fill(view, errorBox("No item id in the address; open an item from search or browse.")); return; }
  const itemPath = cpath(ctx.collection, `/items/${encodeURIComponent(id)}`);
  fill(view, loading("Loading the item"));
  let item;
  try {
    item = await api(itemPath);
  } catch (error) {
    if (ctx.isCurrent()) fill(view, errorBox(error));
    return;
  }
  if (!ctx.isCurrent()) return;
  const neighbours = h("section", { class: "card", id: "neighbours" }, h("h2", {}, "Nearest neighbours"), loading());
  const similar = h("section", { class: "card", id: "similar" }, h("h2", {}, "Similar items (recommender)"), loading());
  const metadata = Object.entries(item.metadata || {});
  fill(view,
    h("article", { class: "card item", id: "item", dataset: { id: item.id } },
      h("h1", { class: "item-title" }, item.id),
      metadata.length ? h("dl", { class: "metadata" }, metadata.flatMap(([name, value]) => [
        h("dt", {}, name), h("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value))])) : null,
      h("div", { class: "item-text" }, item.text),
      h("p", {}, h("a", { href: ctx.hash("search", null, { q: snippet(item.text, 300), mode: "dense" }) },
        "Search with this text"))),
    classifyBlock(ctx, item),
    h("div", { class: "columns" }, neighbours, similar));

  const loads = [
    api(`${itemPath}/neighbours`, { query: { k: 10 } }).then((answer) => {
      const hits = answer.hits || [];
      fill(neighbours, h("h2", {}, "Nearest neighbours"),
        hits.length ? h("ol", { class: "hits compact" }, hits.map((hit, i) => hitCard(ctx.collection, hit, i + 1)))
          : h("p", { class: "muted" }, "No neighbours: this is the only item."));
    }).catch((error) => fill(neighbours, h("h2", {}, "Nearest neighbours"), errorBox(error))),
    api(`${itemPath}/similar`, { query: { k: 10 } }).then((answer) => {
      const items = answer.items || [];
      fill(similar, h("h2", {}, "Similar items (recommender)"),
        h("ol", { class: "plain-list" }, items.map((rec) => h("li", {},
          itemLink(ctx.collection, rec.item), " ", h("span", { class: "score" }, formatScore(rec.score)),
          h("div", { class: "muted" }, snippet(rec.text))))));
    }).catch((error) => {
      // No recommender (or the item is not in its catalogue) is a 4xx: the block just goes away.
      if (error.status >= 400 && error.status < 500) similar.remove();
      else fill(similar, h("h2", {}, "Similar items (recommender)"), errorBox(error));
    }),
  ];
  await Promise.all(loads);
}
