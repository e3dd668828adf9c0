"""The 2-D map: a PNG is drawn, and the HTML page is valid, self-contained and carries every point."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from selfsim.tasks.topics.maps import map_coordinates, write_html, write_png


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.open: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag not in ("meta", "input", "br", "img", "link"):
            self.open.append(tag)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_html_map_is_valid_self_contained_and_holds_the_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coordinates = rng.normal(size=(30, 2))
    labels = np.array([0] * 10 + [1] * 15 + [-1] * 5)
    texts = [f"item {i} says </script><b>hi</b> & more" for i in range(30)]
    path = write_html(tmp_path / "map.html", coordinates, labels, {0: "alpha beta", 1: "gamma"},
                      [f"id{i}" for i in range(30)], texts, title="test <map>")
    page = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert parser.open == [] and {"html", "head", "body", "canvas", "script", "style"} <= set(parser.tags)
    # Self-contained: nothing is fetched, no external script, style, font or image.
    assert not re.search(r"(https?:|ftp:)?//[\w.-]+\.[a-z]{2,}", page)
    assert not any(name in ("src", "href") for name, _ in parser.attributes)
    assert "@import" not in page and "url(" not in page
    data = json.loads(parser.scripts[0])
    assert len(data["x"]) == len(data["ids"]) == len(data["t"]) == 30
    assert data["t"][0] == texts[0] and {c["name"] for c in data["clusters"]} == {"alpha beta", "gamma", "noise"}
    assert "<title>test &lt;map&gt;</title>" in page


def test_png_map_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    path = write_png(tmp_path / "map.png", rng.normal(size=(50, 2)), np.arange(50) % 3 - 1,
                     {0: "zero", 1: "one"}, title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_coordinates_by_pca_and_tiny_inputs() -> None:
    rng = np.random.default_rng(2)
    assert map_coordinates(rng.normal(size=(20, 8)), "pca").shape == (20, 2)
    assert map_coordinates(rng.normal(size=(1, 8)), "umap").shape == (1, 2)
