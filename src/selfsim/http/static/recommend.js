// Recommendations for a user id or a pasted history of item ids, each with a "why?" link.

import {
  allows, api, cpath, errorBox, fill, formatScore, h, itemLink, jobBar, loading, parseIds, runJob, snippet, whyButton,
} from "./lib.js";

export async function renderRecommend(ctx, view) {
  const { params } = ctx;
  const byUser = h("input", { type: "radio", name: "source", value: "user", checked: !params.get("history") });
  const byHistory = h("input", { type: "radio", name: "source", value: "history", checked: Boolean(params.get("history")) });
  const user = h("input", { type: "text", id: "rec-user", value: params.get("user") || "", placeholder: "user id",
    "aria-label": "User id" });
  const history = h("textarea", { id: "rec-history", rows: "3", value: params.get("history") || "",
    placeholder: "item ids, oldest first, one per line or comma-separated", "aria-label": "History" });
  const k = h("input", { type: "number", id: "rec-k", min: "1", max: "1000", value: params.get("k") || "10",
    "aria-label": "k" });
  const sync = () => { user.disabled = !byUser.checked; history.disabled = !byHistory.checked; };
  byUser.addEventListener("change", sync);
  byHistory.addEventListener("change", sync);
  sync();
  const form = h("form", { class: "card", id: "recommend-form" },
    h("div", { class: "options" },
      h("label", { class: "check" }, byUser, " for a user"), user),
    h("div", { class: "options" },
      h("label", { class: "check" }, byHistory, " after a history"), h("div", { class: "grow" }, history)),
    h("div", { class: "options" }, h("label", { class: "field" }, h("span", {}, "k"), k),
      h("button", { type: "submit", class: "primary" }, "Recommend")));
  const results = h("section", { id: "recommendations", "aria-live": "polite" });
  const training = trainBlock(ctx);
  fill(view, form, results, training);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = { k: k.value };
    if (byUser.checked) next.user = user.value.trim(); else next.history = history.value;
    const hash = ctx.hash("recommend", null, next);
    if (location.hash === hash) run(); else location.hash = hash;
  });

  async function run() {
    const source = byUser.checked ? { user: user.value.trim() } : { history: parseIds(history.value) };
    if (source.user === "" || (source.history && !source.history.length)) return;
    fill(results, loading("Recommending"));
    try {
      const answer = await api(cpath(ctx.collection, "/recommend"),
        { method: "POST", body: { ...source, k: Number(k.value) || 10 } });
      if (!ctx.isCurrent()) return;
      const items = answer.items || [];
      fill(results, items.length
        ? h("ol", { class: "hits" }, items.map((rec, i) => recommendationCard(ctx, rec, i + 1, source)))
        : h("p", {}, "No recommendations: every item is already in the history."));
    } catch (error) {
      if (ctx.isCurrent()) fill(results, errorBox(error));
    }
  }
  if (params.get("user") || params.get("history")) await run();
}

function recommendationCard(ctx, rec, rank, source) {
  const panel = h("div", { class: "explain-panel", hidden: true });
  const explain = () => api(cpath(ctx.collection, "/explain/recommend"),
    { method: "POST", body: { item_id: rec.item, ...source } });
  return h("li", { class: "hit", dataset: { id: rec.item } },
    h("div", { class: "hit-head" },
      h("span", { class: "rank" }, `${rank}.`), itemLink(ctx.collection, rec.item),
      h("span", { class: "score" }, formatScore(rec.score)), whyButton(panel, explain)),
    h("div", { class: "hit-text" }, snippet(rec.text, 400)),
    panel);
}

function trainBlock(ctx) {
  if (!allows(ctx.role, "write")) return null;
  const bar = jobBar();
  const status = h("div");
  const button = h("button", { type: "button", id: "train-recommender" }, "Train the recommender");
  button.addEventListener("click", async () => {
    button.disabled = true;
    fill(status);
    try {
      await runJob(() => api(cpath(ctx.collection, "/recommender/train"), { method: "POST", body: {} }),
        bar, "Training");
      fill(status, h("p", {}, "Trained; recommendations now come from the new model."));
    } catch (error) {
      fill(status, errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card muted-card" },
    h("p", { class: "muted" }, "The recommender learns from the interaction log (POST /interactions)."),
    button, bar, status);
}
