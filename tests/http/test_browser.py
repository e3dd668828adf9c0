"""The web page in a real browser (Playwright + the system Chromium) against a real server (``served``).

One browser for the module, a fresh browser context (so a fresh session storage) per test. Screenshots go
to ``$SELFSIM_ARTIFACTS/browser`` when that variable is set, else to a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("browser tests need the system Chromium at /usr/bin/chromium (apt install chromium)",
                allow_module_level=True)
try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("browser tests need Playwright for Python (pip install playwright; no browser download needed)",
                allow_module_level=True)

TIMEOUT_MS = 20_000
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go."""
    root = os.environ.get("SELFSIM_ARTIFACTS")
    folder = Path(root) / "browser" if root else tmp_path_factory.mktemp("browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole module."""
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, served: Any) -> Iterator[Page]:
    """A page in a fresh context at the server's address; fails the test on an uncaught script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=served.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    yield opened
    context.close()
    assert not script_errors, f"the page threw: {script_errors}"


def sign_in(page: Page, key: str) -> None:
    """Open the page and sign in with ``key``; waits for the search form."""
    page.goto("/")
    page.fill("#api-key", key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#search-form")).to_be_visible()


def search(page: Page, query: str, filters: str = "", mode: str = "hybrid") -> None:
    """Run a search from the form and wait for its answer (hits, or the no-hit sentence)."""
    page.fill("#query", query)
    page.select_option("#mode", mode)
    page.fill("#filter", filters)
    with page.expect_response(lambda r: r.url.endswith("/search") and r.request.method == "POST"):
        page.click("#search-form button[type=submit]")
    expect(page.locator("#results .summary, #results .error")).to_have_count(1)


def call(served: Any, path: str, body: Any = None, key: str | None = None, role: str = "read") -> tuple[int, Any]:
    """``(status, JSON answer)`` of one API call (POST when ``body`` is given) with ``key`` or the key of ``role``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(served.base_url + path, data=data, method="GET" if body is None else "POST",
                                     headers={"Authorization": f"Bearer {key or served.keys[role]}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ok(served: Any, path: str, body: Any = None, role: str = "read") -> Any:
    """The JSON answer of an API call that must succeed."""
    status, answer = call(served, path, body, role=role)
    assert status < 300, (status, answer)
    return answer


def finished(served: Any, job: str, what: str) -> dict[str, Any]:
    """The state of ``job`` once it is done (polled; fails the test if it fails or takes over two minutes)."""
    deadline = time.monotonic() + 120
    while True:
        state = ok(served, f"/api/jobs/{job}")
        if state["state"] == "done":
            return state
        assert state["state"] != "failed", state["error"]
        assert time.monotonic() < deadline, f"{what} took over two minutes"
        time.sleep(0.1)


def open_item(page: Page, served: Any, item_id: str) -> None:
    """Go to the page of ``item_id`` (signed in) and wait for it."""
    page.goto(f"/#/c/{served.name}/item/{item_id}")
    expect(page.locator("#item")).to_have_attribute("data-id", item_id)


@pytest.fixture(scope="module")
def topics(served: Any) -> list[dict[str, Any]]:
    """The collection's topics, fitted through the API with the write key when there are none yet."""
    topics_path = f"/api/collections/{served.name}/topics"
    listed = ok(served, topics_path)["topics"]
    if listed:
        return listed
    finished(served, ok(served, topics_path, {}, role="write")["job"], "fitting topics")
    return ok(served, topics_path)["topics"]


def test_a_wrong_key_shows_the_servers_sentence_and_a_right_one_signs_in(page: Page, served: Any,
                                                                         artifacts: Path) -> None:
    status, answer = call(served, "/api/collections", key="not-a-key")
    assert status == 401
    sentence = answer["error"]
    page.goto("/")
    page.fill("#api-key", "not-a-key")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-form .error")).to_have_text(sentence)
    page.screenshot(path=artifacts / "signin-error.png")

    page.fill("#api-key", served.keys["read"])
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#collection-name")).to_have_text(served.name)
    expect(page.locator("#role")).to_have_text("read key")
    assert page.evaluate("sessionStorage.getItem('selfsim.key')") == served.keys["read"]

    page.reload()  # the key survives a reload of the tab
    expect(page.locator("#search-form")).to_be_visible()
    page.click("#sign-out")
    expect(page.locator("#signin-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('selfsim.key')") is None


def test_a_query_shows_hits_with_the_matching_passage_signals_and_why(page: Page, served: Any,
                                                                      artifacts: Path) -> None:
    sign_in(page, served.keys["read"])
    search(page, "compress data into a gzip file")
    hits = page.locator("#results .hit")
    assert hits.count() > 0
    first = hits.first
    expect(first.locator("a.item-id")).not_to_be_empty()
    expect(first.locator(".score")).to_have_text(re.compile(r"^-?\d+\.\d{4}$"))
    expect(first.locator("mark.span")).not_to_have_count(0)
    assert first.locator(".signal").count() >= 1
    assert "q=compress" in page.url  # the search is in the address, so it can be shared and reloaded

    first.locator("button.why").click()
    expect(first.locator(".explanation .selfsim-explain").first).to_be_visible()
    expect(first.locator(".explanation mark").first).to_be_attached()  # server fragments inserted as HTML
    page.screenshot(path=artifacts / "search.png", full_page=True)


def test_a_filter_keeps_only_matching_hits_and_a_bad_filter_shows_the_sentence(page: Page, served: Any) -> None:
    sign_in(page, served.keys["read"])
    search(page, "open a network connection", filters="kind=function")
    kinds = page.locator("#results .hit .chips li", has_text="kind").all_inner_texts()
    assert kinds, "no hit shows its kind"
    assert all(text.split() == ["kind", "function"] for text in kinds), kinds

    search(page, "open a network connection", filters="kind >> 3")
    expect(page.locator("#results .error")).to_contain_text("cannot read the filter")


def test_an_item_page_shows_text_metadata_and_neighbours(page: Page, served: Any, artifacts: Path) -> None:
    sign_in(page, served.keys["read"])
    search(page, "parse command line options")
    first_id = page.locator("#results .hit").first.get_attribute("data-id")
    page.locator("#results .hit a.item-id").first.click()
    item = page.locator("#item")
    expect(item).to_have_attribute("data-id", first_id)
    expect(item.locator(".item-text")).not_to_be_empty()
    expect(item.locator(".metadata dt", has_text="kind")).to_have_count(1)
    neighbours = page.locator("#neighbours .hit")
    expect(neighbours.first).to_be_visible()
    assert first_id not in neighbours.evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    expect(page.locator("#similar")).to_have_count(0)  # no recommender: its 4xx hides the block
    page.screenshot(path=artifacts / "item.png", full_page=True)


def test_an_item_page_predicts_its_class_and_explains_why(page: Page, served: Any, artifacts: Path) -> None:
    collection = f"/api/collections/{served.name}"
    items = ok(served, f"{collection}/items?limit=1000")["items"]
    labels = [{"id": item["id"], "label": item["metadata"]["area"]}
              for item in items[::3] if "area" in (item.get("metadata") or {})]
    assert ok(served, f"{collection}/labels", {"task": "area", "labels": labels}, role="write") == {
        "stored": len(labels)}
    finished(served, ok(served, f"{collection}/classifiers/area/fit", {}, role="write")["job"],
             "fitting the area classifier")
    chosen = "gzip.compress"  # a few sentences: an exact explanation in well under a second
    text = ok(served, f"{collection}/items/{chosen}")["text"]
    expected = ok(served, f"{collection}/classifiers/area/predict", {"texts": [text]})["predictions"][0]

    sign_in(page, served.keys["read"])
    open_item(page, served, chosen)
    page.fill("#classify-task", "area")
    page.click("#classify-form button[type=submit]")
    prediction = page.locator("#classify-result .prediction")
    expect(prediction.locator(".predicted-label")).to_have_text(expected["label"])
    assert expected["label"] in {label["label"] for label in labels}
    expect(prediction.locator(".score")).to_have_text(f"{expected['probability'] * 100:.1f}%")

    prediction.locator("button.why").click()
    fragment = prediction.locator(".explanation .selfsim-explain")
    expect(fragment).to_be_visible()  # the server's fragment, inserted as HTML
    assert fragment.locator("mark[title]").count() >= 2, "the sentences are not marked"
    expect(prediction.locator(".explanation")).to_contain_text(re.compile(r"exact|sampled"))
    page.screenshot(path=artifacts / "classify-why.png", full_page=True)

    page.reload()  # the task is remembered for the tab
    expect(page.locator("#classify-task")).to_have_value("area")


def test_an_unknown_task_shows_the_servers_sentence(page: Page, served: Any) -> None:
    status, answer = call(served, f"/api/collections/{served.name}/classifiers/no-such-task/predict",
                          {"texts": ["anything"]})
    assert 400 <= status < 500
    item_id = ok(served, f"/api/collections/{served.name}/items?limit=1")["items"][0]["id"]
    sign_in(page, served.keys["read"])
    open_item(page, served, item_id)
    page.fill("#classify-task", "no-such-task")
    page.click("#classify-form button[type=submit]")
    expect(page.locator("#classify-result .error")).to_have_text(answer["error"])
    expect(page.locator("#classify-result .prediction")).to_have_count(0)


def test_browse_pages_through_items_under_a_filter(page: Page, served: Any) -> None:
    sign_in(page, served.keys["read"])
    page.click("a[data-tab=browse]")
    rows = page.locator("table.items tbody tr")
    expect(rows.first).to_be_visible()
    total = ok(served, f"/api/collections/{served.name}/items?limit=1")["total"]
    classes = ok(served, f"/api/collections/{served.name}/items?limit=1&filter=kind%3Dclass")["total"]
    assert rows.count() == min(50, total)
    page.click(".pager button.next")
    expect(page.locator(".pager .range")).to_contain_text(f"items 51–{min(100, total)} of {total}")
    page.fill("#browse-filter", "kind=class")
    page.click("#browse-form button[type=submit]")
    expect(page.locator(".pager .range")).to_contain_text(f"of {classes}")
    assert all("kind=class" in text for text in page.locator("table.items .meta-cell").all_inner_texts())


def test_duplicates_list_groups_with_the_kept_item_and_the_drop_list(page: Page, served: Any) -> None:
    sign_in(page, served.keys["read"])
    page.click("a[data-tab=duplicates]")
    page.fill("#dup-threshold", "0.7")
    with page.expect_response(lambda r: r.url.endswith("/duplicates")):
        page.click("#duplicates-form button[type=submit]")
    expect(page.locator("#duplicate-results .loading")).to_have_count(0)
    groups = page.locator("#duplicate-results .group")
    if groups.count() == 0:
        pytest.skip("the sample has no duplicate group at 0.7")
    group = groups.first
    expect(group.locator(".dup-item.kept")).to_have_count(1)
    dropped = group.locator(".dup-item.dropped").first.get_attribute("data-id")
    assert dropped in page.input_value("#drop-ids").split("\n")
    group.locator(".dup-item.dropped input[type=radio]").first.check()  # keep that one instead
    assert dropped not in page.input_value("#drop-ids").split("\n")


def test_fit_topics_from_the_map_with_a_write_key(page: Page, served: Any, artifacts: Path) -> None:
    sign_in(page, served.keys["write"])
    page.click("a[data-tab=map]")
    fit = page.locator("#fit-topics")
    expect(fit).to_be_visible()  # shown once the topics are listed, without waiting for the map
    if fit.inner_text() == "Fit topics":
        fit.click()
        expect(page.locator(".job progress")).to_be_visible()
    expect(page.locator("#legend .legend-row").first).to_be_visible(timeout=120_000)
    page.screenshot(path=artifacts / "map-fitted.png")


def test_the_map_opens_an_item_on_click_and_lists_a_topics_items(page: Page, served: Any, artifacts: Path,
                                                                  topics: list[dict[str, Any]]) -> None:
    assert topics, "the fit found no topics"
    sign_in(page, served.keys["read"])
    page.click("a[data-tab=map]")
    page.wait_for_function("window.selfsimMap && window.selfsimMap.ready", timeout=120_000)
    assert page.evaluate("window.selfsimMap.count") > 0

    real = next((t for t in topics if str(t["topic"]) != "-1"), topics[0])
    page.locator(f"#legend li[data-topic='{real['topic']}'] .legend-row").click()
    expect(page.locator("#topic-panel .compact-items li").first).to_be_visible()
    page.screenshot(path=artifacts / "map-topic.png")
    page.locator(f"#legend li[data-topic='{real['topic']}'] .legend-row").click()  # and back to every topic

    canvas = page.locator("#map-canvas")
    canvas.hover()
    page.mouse.wheel(0, -300)  # zoom in around the centre; points must stay where the hook says
    chosen = None
    for point_id in page.evaluate("window.selfsimMap.ids(200)"):
        where = page.evaluate("id => window.selfsimMap.screenPosition(id)", point_id)
        if where and page.evaluate("([x, y]) => window.selfsimMap.pointAt(x, y)", [where["x"], where["y"]]) == point_id:
            chosen = (point_id, where)
            break
    assert chosen, "no point of the map is on screen and on top"
    point_id, where = chosen
    page.mouse.move(where["x"], where["y"])
    expect(page.locator(".map-tooltip strong")).to_have_text(point_id)
    page.screenshot(path=artifacts / "map-hover.png")
    page.mouse.click(where["x"], where["y"])
    expect(page.locator("#item")).to_have_attribute("data-id", point_id)


def test_errors_are_sentences_and_item_text_is_never_html(page: Page, served: Any) -> None:
    ok(served, f"/api/collections/{served.name}/items", {"items": [
        {"id": "html-text", "text": "<img src=x onerror=\"window.pwned = 1\"> zebra xylophone quokka",
         "metadata": {"kind": "<b>note</b>"}}]}, role="write")
    sign_in(page, served.keys["read"])
    search(page, "zebra xylophone quokka", mode="keyword")
    hit = page.locator("#results .hit[data-id='html-text']")
    expect(hit.locator(".hit-text")).to_contain_text("<img src=x")
    expect(hit.locator("img, b")).to_have_count(0)
    assert page.evaluate("window.pwned") is None

    page.click("a[data-tab=recommend]")
    page.fill("#rec-user", "nobody-at-all")
    page.click("#recommend-form button[type=submit]")
    expect(page.locator("#recommendations .error")).not_to_be_empty()
