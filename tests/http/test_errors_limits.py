"""Errors are one JSON sentence with the right status; limits are enforced and named; no traceback leaks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from live_server import Server

from selfsim.config import ServiceConfig

# The defaults of k (10), n (20), a page (50) and the map (20,000) fit, so only the requests past them fail.
SMALL = ServiceConfig(max_body_bytes=2000, max_batch=3, max_k=20, max_query_chars=40, max_filters=2, max_page=50,
                      max_map_points=20000)


@pytest.fixture(scope="module")
def small(start_server: Callable[..., Server]) -> Server:
    """A server with tiny limits, so each limit is cheap to reach."""
    return start_server(name="small", config=SMALL)


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"].endswith(".")
    assert "Traceback" not in body["error"] and 'File "' not in body["error"]
    return body["error"]


def test_bad_json_and_bad_fields(small: Server) -> None:
    with small.client("write") as client:
        headers = {"Content-Type": "application/json"}
        assert "not valid JSON" in _error(client.post(small.url("/search"), content=b"{nope", headers=headers), 400)
        assert "JSON object" in _error(client.post(small.url("/search"), json=["a list"]), 422)
        assert "'query' is required" in _error(client.post(small.url("/search"), json={"k": 3}), 422)
        assert "k:" in _error(client.post(small.url("/search"), json={"query": "x", "k": "many"}), 422)
        assert "mode" in _error(client.post(small.url("/search"), json={"query": "x", "mode": "psychic"}), 422)
        assert "limit" in _error(client.get(small.url("/items"), params={"limit": "ten"}), 422)
        assert "/docs" in _error(client.get("/api/nothing-here"), 404)
        assert _error(client.post(small.url("/items/delete"), json={}), 422)


def test_a_body_over_the_limit_is_413(small: Server) -> None:
    big = {"items": [{"id": "a", "text": "x" * 3000}]}
    with small.client("write") as client:
        message = _error(client.post(small.url("/items"), json=big), 413)
        assert "2,000 bytes" in message

        def chunks() -> Iterator[bytes]:  # no Content-Length: the size is counted as it arrives
            yield b'{"items": [{"id": "a", "text": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}]}'

        assert "2,000 bytes" in _error(client.post(small.url("/items"), content=chunks(),
                                                   headers={"Content-Type": "application/json"}), 413)
        assert client.get(small.url("/items/a")).status_code == 404  # nothing was written


@pytest.mark.parametrize(("method", "path", "payload", "named"), [
    ("POST", "/items", {"items": [{"id": str(i), "text": "t"} for i in range(4)]}, "limit of 3 items"),
    ("POST", "/items/delete", {"ids": ["a", "b", "c", "d"]}, "limit of 3 ids"),
    ("POST", "/search", {"query": "x", "k": 21}, "limit of 20 results"),
    ("POST", "/search", {"query": "x" * 41}, "limit of 40"),
    ("POST", "/search", {"query": "x", "filter": ["a=1", "b=2", "c=3"]}, "limit of 2"),
    ("GET", "/items?limit=51", None, "limit of 50 items per page"),
    ("GET", "/items?filter=a=1&filter=b=2&filter=c=3", None, "limit of 2"),
    ("GET", "/items/bz2/neighbours?k=21", None, "limit of 20 results"),
    ("GET", "/map?limit=20001", None, "limit of 20,000 map points"),
    ("POST", "/classifiers/area/predict", {"texts": ["a", "b", "c", "d"]}, "limit of 3 texts"),
    ("POST", "/labels", {"task": "t", "labels": [{"id": "bz2", "label": "x"}] * 4}, "limit of 3 labels"),
    ("POST", "/interactions", {"events": [{"user": "u", "item": "bz2"}] * 4}, "limit of 3 events"),
    ("POST", "/recommend", {"user": "u", "k": 21}, "limit of 20 results"),
    ("GET", "/classifiers/area/suggest?n=21", None, "limit of 20 results"),
])
def test_limits_are_422_and_named(small: Server, method: str, path: str, payload: Any, named: str) -> None:
    with small.client("admin") as client:
        assert named in _error(client.request(method, small.url(path), json=payload), 422)


def test_user_errors_map_to_their_status(small: Server) -> None:
    with small.client("write") as client:
        assert "'ghost'" in _error(client.get(small.url("/items/ghost")), 404)
        assert _error(client.post(small.url("/items"), json={"replace": False, "items": [
            {"id": "bz2", "text": "already there"}]}), 409)
        empty = _error(client.post(small.url("/items"), json={"items": []}), 422)
        assert "no items" in empty
        missing_label_ids = _error(client.post(small.url("/labels"), json={
            "task": "t", "labels": [{"id": "ghost", "label": "x"}]}), 404)
        assert "ghost" in missing_label_ids
        assert _error(client.post(small.url("/classifiers/never-labelled/fit"), json={}), 404)
        assert "job" in _error(client.get("/api/jobs/0123456789abcdef"), 404)
        # the server's directories never appear: the collection is named instead
        message = _error(client.post(small.url("/classifiers/never-labelled/predict"), json={"texts": ["a"]}), 404)
        assert str(small.path) not in message
        assert f"`selfsim classify fit {small.name} --task never-labelled`" in message  # a command still reads right


def test_an_unexpected_failure_is_500_with_the_traceback_only_in_the_log(small: Server,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail 0xdeadbeef")

    monkeypatch.setattr(small.collection, "search", broken)
    with small.client() as client:
        message = _error(client.post(small.url("/search"), json={"query": "anything"}), 500)
    assert "0xdeadbeef" not in message and "log" in message
    log = small.log_text()
    assert "Traceback" in log and "0xdeadbeef" in log
