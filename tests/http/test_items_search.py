"""Reading and writing items and searching them, through a real server."""

from __future__ import annotations

from typing import Any

import pytest
from live_server import Server

from selfsim.version import __version__


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_health_needs_no_key(served: Server) -> None:
    with served.client(None) as client:
        assert _ok(client.get("/api/health")) == {"status": "ok", "version": __version__}


def test_collections_and_info(served: Server, sample_records: list[dict[str, Any]]) -> None:
    with served.client("write") as client:
        listed = _ok(client.get("/api/collections"))["collections"]
        assert listed == [{"name": "docs", "items": len(sample_records), "role": "write"}]
        info = _ok(client.get(served.url()))
    assert info["name"] == "docs" and info["items"] == len(sample_records) and info["index_agrees"]


def test_item_pages_with_filters(served: Server, sample_records: list[dict[str, Any]]) -> None:
    with served.client() as client:
        first = _ok(client.get(served.url("/items"), params={"limit": 3}))
        assert (first["offset"], first["limit"], first["total"]) == (0, 3, len(sample_records))
        assert [item["id"] for item in first["items"]] == [r["id"] for r in sample_records[:3]]
        assert set(first["items"][0]) == {"id", "text", "metadata"}
        second = _ok(client.get(served.url("/items"), params={"offset": 3, "limit": 2}))
        assert [item["id"] for item in second["items"]] == [r["id"] for r in sample_records[3:5]]
        area = sample_records[0]["area"]
        wanted = [r["id"] for r in sample_records if r["area"] == area and r["kind"] == "module"]
        filtered = _ok(client.get(served.url("/items"),
                                  params=[("filter", f"area={area}"), ("filter", "kind=module"), ("limit", 100)]))
        assert filtered["total"] == len(wanted) and [i["id"] for i in filtered["items"]] == wanted
        bad = client.get(served.url("/items"), params={"filter": "lines >> 3"})
        assert bad.status_code == 422 and "filter" in bad.json()["error"]


def test_one_item_and_its_neighbours(served: Server, sample_records: list[dict[str, Any]]) -> None:
    record = sample_records[0]
    with served.client() as client:
        item = _ok(client.get(served.url(f"/items/{record['id']}")))
        assert item == {"id": record["id"], "text": record["text"],
                        "metadata": {k: v for k, v in record.items() if k not in ("id", "text")}}
        hits = _ok(client.get(served.url(f"/items/{record['id']}/neighbours"), params={"k": 4}))["hits"]
        assert len(hits) == 4 and record["id"] not in {hit["id"] for hit in hits}
        assert set(hits[0]) >= {"id", "score", "text", "metadata", "chunk", "span", "signals"}
        missing = client.get(served.url("/items/no-such-item"))
        assert missing.status_code == 404 and "no-such-item" in missing.json()["error"]
        assert client.get(served.url("/items/no-such-item/neighbours")).status_code == 404


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_search_modes(served: Server, mode: str) -> None:
    with served.client() as client:
        found = _ok(client.post(served.url("/search"), json={"query": "compress data with gzip", "k": 3,
                                                              "mode": mode}))
    assert len(found["hits"]) == 3 and found["took_ms"] >= 0
    hit = found["hits"][0]
    start, end = hit["span"]
    assert 0 <= start < end <= len(hit["text"]) and set(hit["signals"]) <= {"dense", "keyword"}
    assert any(h["metadata"]["area"] == "compression and archives" for h in found["hits"])


def test_search_with_a_filter(served: Server) -> None:
    with served.client() as client:
        found = _ok(client.post(served.url("/search"), json={
            "query": "read a file", "k": 5, "filter": ["area=compression and archives", "kind=module"]}))
    assert found["hits"] and all(h["metadata"]["area"] == "compression and archives" and
                                 h["metadata"]["kind"] == "module" for h in found["hits"])


def test_search_knobs(served: Server) -> None:
    with served.client() as client:
        weighted = _ok(client.post(served.url("/search"), json={
            "query": "compress data with gzip", "k": 3, "fusion": "weighted", "dense_weight": 1.0,
            "ef_search": 64, "nprobe": 4}))["hits"]
        dense = _ok(client.post(served.url("/search"), json={
            "query": "compress data with gzip", "k": 3, "mode": "dense"}))["hits"]
        bad = client.post(served.url("/search"), json={"query": "gzip", "nprobe": 0})
    assert [h["id"] for h in weighted] == [h["id"] for h in dense]  # all weight on the dense signal
    assert bad.status_code == 422 and "nprobe" in bad.json()["error"]


def test_add_upsert_and_delete(served: Server) -> None:
    with served.client("write") as client:
        added = _ok(client.post(served.url("/items"), json={"replace": False, "items": [
            {"id": "new-1", "text": "Brew a pot of green tea", "metadata": {"kind": "recipe"}},
            {"id": 7, "text": "Steep black tea for four minutes"}]}))
        assert (added["written"], added["replaced"]) == (2, 0) and added["generation"] > 0
        assert _ok(client.get(served.url("/items/7")))["text"] == "Steep black tea for four minutes"
        conflict = client.post(served.url("/items"), json={"replace": False, "items": [
            {"id": "new-1", "text": "something else"}]})
        assert conflict.status_code == 409 and "new-1" in conflict.json()["error"]
        replaced = _ok(client.post(served.url("/items"), json={"items": [
            {"id": "new-1", "text": "Brew a pot of jasmine tea", "metadata": {"kind": "recipe"}}]}))
        assert (replaced["written"], replaced["replaced"]) == (1, 1)
        hits = _ok(client.post(served.url("/search"), json={"query": "jasmine tea", "k": 1}))["hits"]
        assert hits[0]["id"] == "new-1"
        deleted = _ok(client.post(served.url("/items/delete"), json={"ids": ["new-1", 7, "never-there"]}))
        assert deleted == {"deleted": ["new-1", "7"], "missing": ["never-there"]}
        assert client.get(served.url("/items/new-1")).status_code == 404
        empty_text = client.post(served.url("/items"), json={"items": [{"id": "x", "text": "  "}]})
        assert empty_text.status_code == 422 and "text" in empty_text.json()["error"]
