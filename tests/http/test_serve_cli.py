"""``selfsim serve``: names, the warnings about keys and open addresses, and the app it hands to uvicorn."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import running
from typer.testing import CliRunner

from selfsim.app import Collection
from selfsim.cli import serve as serve_cli
from selfsim.cli.main import app as cli
from selfsim.errors import ConfigError
from selfsim.http import create_app


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``selfsim serve`` would have run (uvicorn is not started)."""
    calls: list[dict[str, Any]] = []

    def run(app: Any, **options: Any) -> None:
        calls.append({"app": app, **options})

    monkeypatch.setattr(serve_cli.uvicorn, "run", run)
    return calls


def test_loopback_addresses() -> None:
    assert all(serve_cli.is_loopback(host) for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(serve_cli.is_loopback(host) for host in ("0.0.0.0", "::", "192.168.1.4", "example.org"))


def test_two_collections_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two collections are called 'docs'"):
        serve_cli.collection_names([tmp_path / "a" / "docs", tmp_path / "b" / "docs"])
    assert list(serve_cli.collection_names([tmp_path / "a" / "docs", tmp_path / "b" / "more"])) == ["docs", "more"]


def test_serve_warns_without_keys_and_on_open_addresses(sample_dir: Path, tmp_path: Path,
                                                        started: list[dict[str, Any]]) -> None:
    path = tmp_path / "docs"
    shutil.copytree(sample_dir, path)
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", str(path), "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "no collection has an API key" in result.stderr and "0.0.0.0" in result.stderr
    assert started[-1]["host"] == "0.0.0.0" and started[-1]["port"] == 8123
    with Collection.open(path) as collection:
        collection.keys.create("read")
    quiet = runner.invoke(cli, ["serve", str(path), "--host", "0.0.0.0"])
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
    app = started[-1]["app"]
    assert [served.name for served in app.state.registry] == ["docs"]


def test_the_web_page_is_served_and_a_missing_one_is_a_placeholder(tmp_path: Path) -> None:
    missing = tmp_path / "no-page"
    with running(create_app({}, static_dir=missing)) as base_url:
        page = httpx.get(f"{base_url}/")
        assert page.status_code == 200 and "/docs" in page.text
        absent = httpx.get(f"{base_url}/static/app.js")
        assert absent.status_code == 404 and "web page" in absent.json()["error"]
        missing.mkdir()  # installed while the server runs
        (missing / "index.html").write_text("<!doctype html><title>t</title><p>the page</p>", encoding="utf-8")
        (missing / "app.js").write_text("console.log(1)", encoding="utf-8")
        assert "the page" in httpx.get(f"{base_url}/").text
        script = httpx.get(f"{base_url}/static/app.js")
        assert script.status_code == 200 and script.text == "console.log(1)"
        assert httpx.get(f"{base_url}/static/../conftest.py").status_code == 404
