// Shared pieces of the page: the API client, the session, DOM building, and small widgets.
// Every user or item text goes into the page as a text node; the only HTML inserted as HTML
// is the server's explanation fragments (see explanationPanel).

const KEY = "selfsim.key";
const COLLECTION = "selfsim.collection";
const TASK = "selfsim.task"; // the item page's classifier task, remembered for the tab

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  get collection() { return sessionStorage.getItem(COLLECTION); },
  set collection(value) { value ? sessionStorage.setItem(COLLECTION, value) : sessionStorage.removeItem(COLLECTION); },
  get task() { return sessionStorage.getItem(TASK); },
  set task(value) { value ? sessionStorage.setItem(TASK, value) : sessionStorage.removeItem(TASK); },
  clear() { for (const name of [KEY, COLLECTION, TASK]) sessionStorage.removeItem(name); },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The sentence to show for an error answer: the contract's {"error": ...}, else whatever the body says.
function errorSentence(status, statusText, data) {
  if (data && typeof data.error === "string") return data.error;
  if (data && typeof data.detail === "string") return data.detail;
  if (data && Array.isArray(data.detail)) {
    return data.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return `The server answered ${status} ${statusText || ""}`.trim() + "; try again, or look at the server's log.";
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

/** Call the API: `path` is under /api; `query` values may be arrays (repeated parameters). */
export async function api(path, { method = "GET", body, query, key, quiet401 = false } = {}) {
  const url = new URL("/api" + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") url.searchParams.append(name, String(one));
    }
  }
  const headers = { Accept: "application/json" };
  const token = key ?? session.key;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "The server could not be reached; check that it is running, then reload the page.");
  }
  const raw = await response.text();
  let data = null;
  try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, errorSentence(response.status, response.statusText, data));
    if (response.status === 401 && !quiet401) onUnauthorized(error);
    throw error;
  }
  return data;
}

/** The API path of a collection, with `rest` appended (ids in `rest` must already be encoded). */
export function cpath(collection, rest = "") {
  return `/collections/${encodeURIComponent(collection)}${rest}`;
}

/** Build an element: h("a", {href, class, onclick}, "text", child, [more]). Strings become text nodes. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "value" || name === "checked") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function errorBox(error) {
  const message = error instanceof Error ? error.message : String(error);
  return h("p", { class: "error", role: "alert" }, message);
}

export function loading(what = "Loading") {
  return h("p", { class: "loading", role: "status" }, `${what}…`);
}

export function formatScore(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(4) : String(value ?? "");
}

/** The first `limit` characters of `text`, whitespace collapsed. */
export function snippet(text, limit = 160) {
  const flat = String(text ?? "").replace(/\s+/g, " ").trim();
  return flat.length <= limit ? flat : flat.slice(0, limit - 1) + "…";
}

/** Metadata as a row of key: value chips. */
export function metadataChips(metadata) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return null;
  return h("ul", { class: "chips" }, entries.map(([name, value]) =>
    h("li", {}, h("span", { class: "chip-key" }, name), " ",
      typeof value === "object" ? JSON.stringify(value) : String(value))));
}

/** A link to an item's page. */
export function itemLink(collection, id, label) {
  return h("a", { class: "item-id", href: `#/c/${encodeURIComponent(collection)}/item/${encodeURIComponent(id)}` },
    label ?? id);
}

// Filter expressions look like `field op value` (kind=function, year>=2020, area in text,markup,
// author exists). A line holds one or more, comma-separated; a comma followed by something that
// does not start an expression belongs to the value before it (the `in` lists).
const EXPRESSION_START = /^\s*[\w.-]+\s*(>=|<=|!=|==|=|>|<|\s(in|has)\s|\s(exists|missing)\s*$)/;

export function parseFilters(text) {
  const expressions = [];
  for (const line of String(text || "").split(/\n/)) {
    const parts = [];
    for (const piece of line.split(",")) {
      if (parts.length && !EXPRESSION_START.test(piece)) parts[parts.length - 1] += "," + piece;
      else parts.push(piece);
    }
    for (const part of parts) if (part.trim()) expressions.push(part.trim());
  }
  return expressions;
}

/** Ids pasted one per line, or separated by commas or spaces. */
export function parseIds(text) {
  return String(text || "").split(/[\s,]+/).map((id) => id.trim()).filter(Boolean);
}

/** Copy text to the clipboard, falling back to selecting a textarea where the Clipboard API is missing. */
export async function copyText(text, textarea) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!textarea) return false;
    textarea.select();
    return document.execCommand && document.execCommand("copy");
  }
}

// Explanation fragments are built and escaped by the server; this drops anything active all the same.
function sanitisedFragment(html) {
  const template = document.createElement("template");
  template.innerHTML = String(html);
  for (const bad of template.content.querySelectorAll("script, style, iframe, object, embed, link, meta")) bad.remove();
  for (const node of template.content.querySelectorAll("*")) {
    for (const attribute of [...node.attributes]) {
      if (/^on/i.test(attribute.name) || /^\s*javascript:/i.test(attribute.value)) node.removeAttribute(attribute.name);
    }
  }
  return template.content;
}

const SIDE_NAMES = { query: "Query", item: "Item", history: "History", text: "Text", first: "First", second: "Second" };

/** The panel for an explanation answer: its summary line and its HTML fragments, one per side. */
export function explanationPanel(data) {
  const fragments = typeof data.html === "string" ? { text: data.html } : (data.html || {});
  const summary = [];
  if (typeof data.full === "number") summary.push(`score ${formatScore(data.full)}`);
  if (typeof data.empty === "number") summary.push(`with nothing ${formatScore(data.empty)}`);
  if (data.exact === true) summary.push(`exact (${(data.coalitions ?? 0).toLocaleString()} coalitions)`);
  else if (data.exact === false) summary.push(`sampled (${data.permutations} permutations)`);
  if (typeof data.seconds === "number") summary.push(`${data.seconds.toFixed(2)} s`);
  return h("div", { class: "explanation" },
    h("p", { class: "muted" }, summary.join(" · ")),
    Object.entries(fragments).map(([side, html]) => h("div", { class: "explain-side" },
      h("h4", {}, SIDE_NAMES[side] || side), h("div", { class: "fragment" }, sanitisedFragment(html)))),
    (data.notes || []).length ? h("ul", { class: "notes" }, data.notes.map((note) => h("li", {}, note))) : null,
    h("p", { class: "explain-legend muted" }, "Green pushed the score up, red pulled it down; hover a highlight for its value."));
}

/** A "why?" button that loads an explanation once into `target` and then toggles it. */
export function whyButton(target, load) {
  let loaded = false;
  const button = h("button", { type: "button", class: "link why", "aria-expanded": "false" }, "why?");
  button.addEventListener("click", async () => {
    if (loaded) {
      target.hidden = !target.hidden;
      button.setAttribute("aria-expanded", String(!target.hidden));
      return;
    }
    button.disabled = true;
    target.hidden = false;
    fill(target, loading("Explaining (this scores many variants of the texts)"));
    try {
      fill(target, explanationPanel(await load()));
      loaded = true;
      button.setAttribute("aria-expanded", "true");
    } catch (error) {
      fill(target, errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** Start a job with `start()` (which answers {"job": id}), show its progress, resolve with the finished job. */
export async function runJob(start, bar, label) {
  const { job } = await start();
  bar.hidden = false;
  for (;;) {
    const state = await api(`/jobs/${encodeURIComponent(job)}`);
    const progress = Math.max(0, Math.min(1, Number(state.progress) || 0));
    bar.querySelector("progress").value = progress;
    fill(bar.querySelector(".job-label"), `${label}: ${state.state}, ${Math.round(progress * 100)}%`);
    if (state.state === "done") return state;
    if (state.state === "failed") throw new ApiError(500, state.error || `${label} failed; see the server's log.`);
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

export function jobBar() {
  return h("div", { class: "job", hidden: true },
    h("progress", { max: "1", value: "0" }), h("span", { class: "job-label muted", role: "status" }));
}

/** A role at least as high as `needed` (read < write < admin). */
export function allows(role, needed) {
  const order = ["read", "write", "admin"];
  return order.indexOf(role) >= order.indexOf(needed);
}
