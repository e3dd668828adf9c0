// The page's shell: sign-in, the collection picker, the header and tabs, and the hash router.
// Routes: #/signin, #/collections, #/c/<collection>/<view>[/<argument>][?parameters].

import { api, errorBox, fill, h, loading, session, setUnauthorizedHandler } from "./lib.js";
import { renderBrowse, renderDuplicates, renderTopic } from "./browse.js";
import { renderMap } from "./map.js";
import { renderRecommend } from "./recommend.js";
import { renderItem, renderSearch } from "./search.js";

const VIEWS = {
  search: renderSearch,
  item: renderItem,
  browse: renderBrowse,
  duplicates: renderDuplicates,
  map: renderMap,
  topic: renderTopic,
  recommend: renderRecommend,
};
const TAB_OF = { item: null, topic: "map" };

const view = document.getElementById("view");
let collections = null; // [{name, items, role}] for the key in use
let signInMessage = null;
let cleanups = [];
let renderCount = 0;

setUnauthorizedHandler((error) => {
  session.clear();
  collections = null;
  signInMessage = error.message;
  location.hash = "#/signin";
});

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map((part) => {
    try { return decodeURIComponent(part); } catch { return part; }
  });
  return { parts, params: new URLSearchParams(query) };
}

/** The hash for a view of a collection, with optional argument and parameters. */
export function hashFor(collection, name, argument, params) {
  let hash = `#/c/${encodeURIComponent(collection)}/${name}`;
  if (argument !== undefined && argument !== null) hash += `/${encodeURIComponent(argument)}`;
  const query = params instanceof URLSearchParams ? params.toString() : new URLSearchParams(params || {}).toString();
  return query ? `${hash}?${query}` : hash;
}

async function loadCollections() {
  if (!collections) collections = (await api("/collections")).collections || [];
  return collections;
}

function showShell(current, name) {
  const signedIn = Boolean(session.key);
  document.getElementById("sign-out").hidden = !signedIn;
  const title = document.getElementById("collection-name");
  const picker = document.getElementById("collection-picker");
  const role = document.getElementById("role");
  const tabs = document.getElementById("tabs");
  tabs.hidden = !current;
  title.textContent = current ? current.name : "";
  document.title = current ? `${current.name} · selfsim` : "selfsim";
  role.hidden = !current;
  role.textContent = current ? `${current.role} key` : "";
  const many = current && collections && collections.length > 1;
  picker.hidden = !many;
  title.hidden = Boolean(many);
  if (many) {
    fill(picker, collections.map((c) => h("option", { value: c.name }, `${c.name} (${c.items.toLocaleString()} items)`)));
    picker.value = current.name;
  }
  const active = name in TAB_OF ? TAB_OF[name] : name;
  for (const tab of tabs.querySelectorAll("a[data-tab]")) {
    if (current) tab.href = hashFor(current.name, tab.dataset.tab);
    tab.classList.toggle("active", tab.dataset.tab === active);
    if (tab.dataset.tab === active) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}

function renderSignIn() {
  showShell(null, null);
  const message = signInMessage;
  signInMessage = null;
  const status = h("div", { class: "signin-status" }, message ? errorBox(message) : null);
  const input = h("input", { type: "password", name: "key", id: "api-key", autocomplete: "current-password",
    required: true, placeholder: "paste a key from `selfsim keys create`" });
  const form = h("form", { class: "card signin", id: "signin-form" },
    h("h1", {}, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    status,
    h("p", { class: "muted" }, "The key stays in this tab only (session storage) and is sent as a Bearer token."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    fill(status, loading("Checking the key"));
    try {
      const answer = await api("/collections", { key, quiet401: true });
      session.key = key;
      collections = answer.collections || [];
      if (collections.length === 1) {
        session.collection = collections[0].name;
        location.hash = hashFor(collections[0].name, "search");
      } else {
        location.hash = "#/collections";
      }
    } catch (error) {
      fill(status, errorBox(error));
      input.select();
    }
  });
  fill(view, form);
  input.focus();
}

async function renderPicker() {
  showShell(null, null);
  fill(view, loading("Loading collections"));
  const list = await loadCollections();
  if (!list.length) {
    fill(view, h("p", { class: "error" }, "This key opens no collection; ask for a key of a collection."));
    return;
  }
  fill(view, h("section", { class: "card" }, h("h1", {}, "Collections"),
    h("ul", { class: "collections" }, list.map((c) => h("li", {},
      h("a", { href: hashFor(c.name, "search"), onclick: () => { session.collection = c.name; } }, c.name),
      h("span", { class: "muted" }, ` ${c.items.toLocaleString()} items · ${c.role} key`))))));
}

async function route() {
  for (const cleanup of cleanups.splice(0)) {
    try { cleanup(); } catch { /* a view's cleanup never stops the next view */ }
  }
  const token = ++renderCount;
  const { parts, params } = parseHash();
  if (parts[0] === "signin" || !session.key) {
    if (parts[0] !== "signin") { location.replace("#/signin"); return; }
    renderSignIn();
    return;
  }
  try {
    if (parts[0] !== "c" || parts.length < 2) {
      if (parts[0] !== "collections" && session.collection) {
        location.replace(hashFor(session.collection, "search"));
        return;
      }
      await renderPicker();
      return;
    }
    const list = await loadCollections();
    const current = list.find((c) => c.name === parts[1]);
    if (!current) {
      showShell(null, null);
      fill(view, errorBox(`This key opens no collection named ${parts[1]}; pick one from the list.`),
        h("p", {}, h("a", { href: "#/collections" }, "Collections")));
      return;
    }
    session.collection = current.name;
    const name = parts[2] in VIEWS ? parts[2] : "search";
    showShell(current, name);
    const context = {
      collection: current.name,
      role: current.role,
      argument: parts.slice(3).join("/") || null,
      params,
      isCurrent: () => token === renderCount,
      onCleanup: (fn) => cleanups.push(fn),
      hash: (viewName, argument, parameters) => hashFor(current.name, viewName, argument, parameters),
    };
    fill(view);
    await VIEWS[name](context, view);
  } catch (error) {
    if (token === renderCount) fill(view, errorBox(error));
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  collections = null;
  location.hash = "#/signin";
});
document.getElementById("collection-picker").addEventListener("change", (event) => {
  location.hash = hashFor(event.target.value, "search");
});
window.addEventListener("hashchange", route);
route();
