"""The offline HTML map in a real browser (Playwright + the system Chromium): 100,000 points load, redraw fast
enough to pan and zoom smoothly, and the page raises no script error. Slow (a browser start), so marked slow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsim.tasks.topics.maps import write_html

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.slow


def test_html_map_with_100k_points_redraws_fluidly(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs the system Chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    rng = np.random.default_rng(0)
    count, topics = 100_000, 25
    labels = rng.integers(-1, topics, count)
    coordinates = rng.normal(size=(topics + 1, 2))[labels + 1] * 6 + rng.normal(size=(count, 2))
    path = write_html(tmp_path / "map.html", coordinates, labels, {c: f"topic {c} words" for c in range(topics)},
                      [str(i) for i in range(count)], [f"item {i}" for i in range(count)], title="100k")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_function("window.selfsimMap !== undefined", timeout=60_000)
        assert page.evaluate("window.selfsimMap.points") == count
        milliseconds = page.evaluate("() => { const t = performance.now(); for (let i = 0; i < 5; i++) "
                                     "window.selfsimMap.draw(); return (performance.now() - t) / 5; }")
        page.mouse.move(700, 400)
        page.mouse.wheel(0, -300)
        page.get_by_text("topic 3 words").first.click()
        browser.close()
    assert errors == []
    assert milliseconds < 100, f"a redraw of 100k points took {milliseconds:.0f} ms"
