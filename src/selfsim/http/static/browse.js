// Browse (a paged item list: only one page is ever loaded), a topic's items, and duplicates.

import {
  allows, api, copyText, cpath, errorBox, fill, formatScore, h, itemLink, loading, parseFilters, snippet,
} from "./lib.js";

const PAGE_SIZES = [25, 50, 100, 200];

function compactMetadata(metadata) {
  return Object.entries(metadata || {})
    .map(([name, value]) => `${name}=${typeof value === "object" ? JSON.stringify(value) : value}`).join("  ");
}

/** A short list of one page of items with previous/next, for narrow panels (the map's topic list). */
function compactList(collection, page, goTo) {
  const { items = [], offset = 0, limit = 50, total = 0 } = page;
  return h("div", { class: "item-page compact" },
    h("div", { class: "pager" },
      h("button", { type: "button", disabled: offset <= 0, onclick: () => goTo(Math.max(0, offset - limit)) }, "‹"),
      h("span", { class: "muted" }, total
        ? `${(offset + 1).toLocaleString()}–${Math.min(offset + items.length, total).toLocaleString()} of ${total.toLocaleString()}`
        : "no items"),
      h("button", { type: "button", class: "next", disabled: offset + limit >= total, onclick: () => goTo(offset + limit) },
        "›")),
    h("ul", { class: "compact-items" }, items.map((item) => h("li", { dataset: { id: item.id } },
      itemLink(collection, item.id), h("div", { class: "muted" }, snippet(item.text, 110))))));
}

/** A table of one page of items with first/previous/next/last and a page number box. */
function itemTable(collection, page, goTo) {
  const { items = [], offset = 0, limit = 50, total = 0 } = page;
  const pages = Math.max(1, Math.ceil(total / limit));
  const current = Math.floor(offset / limit) + 1;
  const jump = h("input", { type: "number", min: "1", max: String(pages), value: String(current),
    class: "page-box", "aria-label": "Page" });
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => goTo(0) }, "« First"),
    h("button", { type: "button", disabled: offset <= 0, onclick: () => goTo(Math.max(0, offset - limit)) }, "‹ Prev"),
    h("span", {}, "Page ", jump, ` of ${pages.toLocaleString()}`),
    h("button", { type: "button", class: "next", disabled: offset + limit >= total,
      onclick: () => goTo(offset + limit) }, "Next ›"),
    h("button", { type: "button", disabled: offset + limit >= total,
      onclick: () => goTo((pages - 1) * limit) }, "Last »"),
    h("span", { class: "muted range" }, total
      ? `items ${(offset + 1).toLocaleString()}–${Math.min(offset + items.length, total).toLocaleString()} of ${total.toLocaleString()}`
      : "no items"));
  jump.addEventListener("change", () => {
    const wanted = Math.min(pages, Math.max(1, Math.round(Number(jump.value) || 1)));
    goTo((wanted - 1) * limit);
  });
  const table = h("table", { class: "items" },
    h("thead", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, "text"), h("th", {}, "metadata"))),
    h("tbody", {}, items.map((item) => h("tr", { dataset: { id: item.id } },
      h("td", { class: "id-cell" }, itemLink(collection, item.id)),
      h("td", {}, snippet(item.text, 180)),
      h("td", { class: "muted meta-cell" }, compactMetadata(item.metadata))))));
  return h("div", { class: "item-page" }, pager, h("div", { class: "table-wrap" }, table));
}

export async function renderBrowse(ctx, view) {
  const { params } = ctx;
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const limit = PAGE_SIZES.includes(Number(params.get("limit"))) ? Number(params.get("limit")) : 50;
  const filterText = params.get("filter") || "";
  const filter = h("input", { type: "text", id: "browse-filter", name: "filter", value: filterText,
    placeholder: "kind=function, year>=2020", "aria-label": "Filters" });
  const size = h("select", { "aria-label": "Items per page" }, PAGE_SIZES.map((n) => h("option", { value: String(n) },
    `${n} per page`)));
  size.value = String(limit);
  const go = (nextOffset, nextLimit = limit, nextFilter = filterText) => {
    const next = { offset: String(nextOffset), limit: String(nextLimit) };
    if (nextFilter.trim()) next.filter = nextFilter;
    location.hash = ctx.hash("browse", null, next);
  };
  const form = h("form", { class: "card toolbar", id: "browse-form" },
    h("label", { class: "field grow" }, h("span", {}, "Filters"), filter), size,
    h("button", { type: "submit", class: "primary" }, "Apply"));
  form.addEventListener("submit", (event) => { event.preventDefault(); go(0, Number(size.value), filter.value); });
  size.addEventListener("change", () => go(0, Number(size.value), filter.value));
  const body = h("section", { id: "browse-results" }, loading("Loading items"));
  fill(view, form, body);
  try {
    const page = await api(cpath(ctx.collection, "/items"),
      { query: { offset, limit, filter: parseFilters(filterText) } });
    if (ctx.isCurrent()) fill(body, itemTable(ctx.collection, page, (o) => go(o)));
  } catch (error) {
    if (ctx.isCurrent()) fill(body, errorBox(error));
  }
}

/** The items of one topic, paged; used on its own page (#/c/x/topic/3) and beside the map. */
export async function topicItems(ctx, topic, container, offset = 0, limit = 25, compact = false) {
  fill(container, loading(`Loading topic ${topic}`));
  try {
    const page = await api(cpath(ctx.collection, `/topics/${encodeURIComponent(topic)}/items`),
      { query: { offset, limit } });
    const show = compact ? compactList : itemTable;
    fill(container, show(ctx.collection, page, (next) => topicItems(ctx, topic, container, next, limit, compact)));
  } catch (error) {
    fill(container, errorBox(error));
  }
}

export async function renderTopic(ctx, view) {
  const topic = ctx.argument;
  const list = h("section", { id: "topic-items" });
  const heading = h("h1", {}, `Topic ${topic}`);
  fill(view, h("div", { class: "card" }, heading,
    h("p", {}, h("a", { href: ctx.hash("map", null, { topic }) }, "← back to the map"))), list);
  api(cpath(ctx.collection, "/topics")).then((answer) => {
    const found = (answer.topics || []).find((t) => String(t.topic) === String(topic));
    if (found && ctx.isCurrent()) {
      fill(heading, `Topic ${topic}: ${(found.keywords || []).slice(0, 6).join(", ")}`);
    }
  }).catch(() => {});
  await topicItems(ctx, topic, list, Math.max(0, Number(ctx.params.get("offset")) || 0), 50);
}

const GROUPS_SHOWN = 100; // groups drawn at a time; the drop list always holds every group

export async function renderDuplicates(ctx, view) {
  const threshold = h("input", { type: "number", id: "dup-threshold", step: "0.01", min: "0", max: "1",
    placeholder: "default", "aria-label": "Threshold" });
  const filter = h("input", { type: "text", id: "dup-filter", placeholder: "kind=function", "aria-label": "Filters" });
  const write = h("input", { type: "checkbox", id: "dup-write", disabled: !allows(ctx.role, "write") });
  const form = h("form", { class: "card toolbar", id: "duplicates-form" },
    h("label", { class: "field" }, h("span", {}, "Similarity threshold"), threshold),
    h("label", { class: "field grow" }, h("span", {}, "Filters"), filter),
    h("label", { class: "check", title: allows(ctx.role, "write") ? "" : "needs a write key" }, write,
      " write groups to metadata"),
    h("button", { type: "submit", class: "primary" }, "Find duplicates"));
  const results = h("section", { id: "duplicate-results", "aria-live": "polite" },
    h("p", { class: "muted" }, "Finds near-identical and paraphrased items and groups them; one item of each group is kept."));
  fill(view, form, results);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { threshold: threshold.value === "" ? null : Number(threshold.value),
      filter: parseFilters(filter.value), write: write.checked };
    fill(results, loading("Looking for duplicates"));
    try {
      const answer = await api(cpath(ctx.collection, "/duplicates"), { method: "POST", body });
      if (ctx.isCurrent()) showGroups(ctx, answer.groups || [], results);
    } catch (error) {
      if (ctx.isCurrent()) fill(results, errorBox(error));
    }
  });
}

function showGroups(ctx, groups, results) {
  if (!groups.length) {
    fill(results, h("p", {}, "No duplicates at this threshold."));
    return;
  }
  const keep = new Map(groups.map((g) => [g.group, g.keep]));
  const dropList = h("textarea", { id: "drop-ids", readonly: true, rows: "4", "aria-label": "Ids to drop" });
  const counts = h("p", { class: "summary" });
  const copied = h("span", { class: "muted", role: "status" });
  const refresh = () => {
    const drop = groups.flatMap((g) => g.items.map((i) => i.id).filter((id) => id !== keep.get(g.group)));
    dropList.value = drop.join("\n");
    fill(counts, `${groups.length.toLocaleString()} groups · keep ${groups.length.toLocaleString()}, `
      + `drop ${drop.length.toLocaleString()}`);
  };
  const copy = h("button", { type: "button", onclick: async () => {
    fill(copied, (await copyText(dropList.value, dropList)) ? " copied" : " select the list and copy it");
  } }, "Copy drop ids");
  const list = h("ol", { class: "groups" });
  let shown = 0;
  const more = h("button", { type: "button", class: "more-groups" });
  const showMore = () => {
    for (const group of groups.slice(shown, shown + GROUPS_SHOWN)) list.append(groupCard(ctx, group, keep, refresh));
    shown = Math.min(groups.length, shown + GROUPS_SHOWN);
    more.hidden = shown >= groups.length;
    fill(more, `Show more groups (${(groups.length - shown).toLocaleString()} left)`);
  };
  more.addEventListener("click", showMore);
  refresh();
  showMore();
  fill(results,
    h("div", { class: "card drop-box" }, counts, h("label", { for: "drop-ids" }, "Ids to drop (one per line)"),
      dropList, h("div", {}, copy, copied)),
    list, more);
}

function groupCard(ctx, group, keep, refresh) {
  const name = `keep-${group.group}`;
  const rows = group.items.map((item) => {
    const radio = h("input", { type: "radio", name, value: item.id, checked: item.id === keep.get(group.group),
      "aria-label": `keep ${item.id}` });
    const row = h("li", { class: "dup-item", dataset: { id: item.id } },
      h("label", { class: "keep-choice" }, radio, h("span", { class: "badge" })),
      itemLink(ctx.collection, item.id), " ",
      h("span", { class: "score" }, formatScore(item.score)),
      h("div", { class: "muted" }, snippet(item.text, 220)));
    radio.addEventListener("change", () => { keep.set(group.group, item.id); mark(); refresh(); });
    return row;
  });
  const mark = () => {
    for (const row of rows) {
      const kept = row.dataset.id === keep.get(group.group);
      row.classList.toggle("kept", kept);
      row.classList.toggle("dropped", !kept);
      fill(row.querySelector(".badge"), kept ? "keep" : "drop");
    }
  };
  mark();
  return h("li", { class: "card group", dataset: { group: String(group.group) } },
    h("h3", {}, `Group ${group.group} · ${group.items.length} items`), h("ul", { class: "dup-items" }, rows));
}
