"""The jobs beyond search through a real server: duplicates, topics (a background job) and the map, labels and
classifiers, interactions and the recommender, explanations."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from live_server import Server


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _finished(client: Any, job: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = _ok(client.get(f"/api/jobs/{job}"))
        assert 0.0 <= state["progress"] <= 1.0
        if state["state"] in ("done", "failed") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_duplicates(served: Server) -> None:
    with served.client("write") as client:
        original = _ok(client.get(served.url("/items/bz2")))
        _ok(client.post(served.url("/items"), json={"items": [
            {"id": "bz2-copy", "text": original["text"], "metadata": original["metadata"]}]}))
        groups = _ok(client.post(served.url("/duplicates"), json={"threshold": 0.95}))["groups"]
        group = next(g for g in groups if "bz2" in {item["id"] for item in g["items"]})
        assert {item["id"] for item in group["items"]} == {"bz2", "bz2-copy"} and group["keep"] in ("bz2", "bz2-copy")
        assert group["items"][0]["text"] == original["text"] and group["items"][0]["score"] > 0.95
        assert _ok(client.post(served.url("/duplicates"), json={"threshold": 0.95, "write": True}))["groups"]
        assert _ok(client.get(served.url("/items/bz2-copy")))["metadata"]["duplicate_group"] == group["group"]
        _ok(client.post(served.url("/items/delete"), json={"ids": ["bz2-copy"]}))


def test_topics_job_then_topics_items_and_map(served: Server) -> None:
    with served.client("write") as client:
        assert _ok(client.get(served.url("/topics"))) == {"topics": []}
        assert client.get(served.url("/topics/0/items")).status_code == 404
        started = client.post(served.url("/topics"), json={})
        job = _ok(started, 202)["job"]
        state = _finished(client, job)
        assert state["state"] == "done", state
        assert (state["id"], state["kind"], state["collection"], state["progress"]) == (job, "topics", "docs", 1.0)
        assert state["result"]["clusters"] >= 2 and state["error"] is None
        topics = _ok(client.get(served.url("/topics")))["topics"]
        assert len(topics) == state["result"]["clusters"] and all(t["keywords"] for t in topics)
        assert sum(t["size"] for t in topics) == _ok(client.get(served.url()))["items"]
        first = topics[0]
        page = _ok(client.get(served.url(f"/topics/{first['topic']}/items"), params={"limit": 3}))
        assert page["total"] == first["size"] and len(page["items"]) == min(3, first["size"])
        assert all(item["metadata"]["cluster"] == first["topic"] for item in page["items"])
        drawn = _ok(client.get(served.url("/map"), params={"limit": 40, "method": "pca"}))  # UMAP's first run: ~25 s
        assert len(drawn["points"]) == 40 and drawn["total"] == _ok(client.get(served.url()))["items"]
        point = drawn["points"][0]
        assert set(point) == {"id", "x", "y", "topic"} and 0 <= point["x"] <= 1 and 0 <= point["y"] <= 1
        assert {t["topic"] for t in drawn["topics"]} <= {t["topic"] for t in topics}


def test_labels_classifier_and_its_explanation(served: Server, sample_records: list[dict[str, Any]]) -> None:
    areas = ["compression and archives", "networking", "text processing"]
    labelled = [r for area in areas for r in [r for r in sample_records if r["area"] == area][:4]]
    if len({r["area"] for r in labelled}) < 2:
        pytest.skip("the sample slice lacks these areas")
    with served.client("write") as client:
        stored = _ok(client.post(served.url("/labels"), json={
            "task": "area", "labels": [{"id": r["id"], "label": r["area"]} for r in labelled]}))
        assert stored == {"stored": len(labelled)}
        state = _finished(client, _ok(client.post(served.url("/classifiers/area/fit"), json={}), 202)["job"])
        assert state["state"] == "done", state
        assert state["kind"] == "classifier" and str(served.path) not in str(state["result"])
        predictions = _ok(client.post(served.url("/classifiers/area/predict"), json={
            "texts": ["decompress a zip archive", "open a socket to a server"]}))["predictions"]
        assert len(predictions) == 2 and predictions[0]["label"] in {r["area"] for r in labelled}
        assert 0 < predictions[0]["probability"] <= 1 and predictions[0]["probabilities"]
        by_text_and_id = _ok(client.post(served.url("/classifiers/area/predict"), json={
            "texts": [labelled[0]["text"]], "ids": [labelled[0]["id"]]}))["predictions"]  # an item by id: its text
        assert by_text_and_id[0]["probabilities"] == by_text_and_id[1]["probabilities"]
        suggested = _ok(client.get(served.url("/classifiers/area/suggest"), params={"n": 3}))["items"]
        assert len(suggested) == 3 and not {s["id"] for s in suggested} & {r["id"] for r in labelled}
        explained = _ok(client.post(served.url("/explain/classify"), json={"item_id": labelled[0]["id"],
                                                                          "task": "area"}))
        assert explained["html"] and all(isinstance(fragment, str) for fragment in explained["html"].values())


def test_explain_search(served: Server) -> None:
    with served.client() as client:
        explained = _ok(client.post(served.url("/explain/search"), json={"query": "compress files",
                                                                         "item_id": "bz2"}))
        assert set(explained["html"]) >= {"query"} and "<" in explained["html"]["query"]
        assert client.post(served.url("/explain/search"), json={"query": "x", "item_id": "ghost"}).status_code == 404


def test_interactions_recommender_and_explanations(served: Server, sample_records: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in sample_records[:12]]
    events = [{"user": f"u{user}", "item": ids[(user + step) % len(ids)], "timestamp": step}
              for user in range(24) for step in range(6)]
    with served.client("write") as client:
        assert _ok(client.post(served.url("/interactions"), json={"events": events})) == {"stored": len(events)}
        again = _ok(client.post(served.url("/interactions"), json={"events": events[:5]}))
        assert again == {"stored": 0}  # exact repeats are ignored
        state = _finished(client, _ok(client.post(served.url("/recommender/train"), json={"epochs": 2}), 202)["job"])
        assert state["state"] == "done", state
        for body in ({"user": "u0", "k": 3}, {"history": ids[:3], "k": 3}):
            items = _ok(client.post(served.url("/recommend"), json=body))["items"]
            assert len(items) == 3 and all(set(item) == {"item", "score", "text"} for item in items)
            assert all(item["text"] for item in items)
        assert client.post(served.url("/recommend"), json={"k": 3}).status_code == 422
        similar = _ok(client.get(served.url(f"/items/{ids[0]}/similar"), params={"k": 4}))["items"]
        assert len(similar) == 4 and ids[0] not in {item["item"] for item in similar}
        explained = _ok(client.post(served.url("/explain/recommend"), json={"item_id": ids[4],
                                                                            "history": ids[:3]}))
        assert "html" in explained and explained["html"]


def test_a_failing_job_is_recorded_with_its_sentence(served: Server) -> None:
    with served.client("write") as client:
        assert client.get("/api/jobs/unknown").status_code == 404
        job = _ok(client.post(served.url("/topics"), json={"filter": ["area=no such area"]}), 202)["job"]
        state = _finished(client, job)
        assert state["state"] == "failed" and state["result"] is None, state
        assert state["error"].endswith(".") and "Traceback" not in state["error"]
        assert str(served.path) not in state["error"]
    with served.client("admin") as admin:  # settings that cannot work are refused before any job starts
        assert "adapt" in _ok(admin.post(served.url("/adapt"), json={"objective": "no-such-objective"}), 400)["error"]
        refused = _ok(admin.post(served.url("/adapt"), json={"objective": "crops", "queries": ["gzip"]}), 400)
        assert "teacher" in refused["error"]


@pytest.mark.slow
def test_adapt_learns_from_a_query_log_or_keeps_the_encoder(start_server: Any) -> None:
    adapted = start_server(name="from-queries")
    log = ["compress a file with gzip", "send an email with an attachment", "parse a csv file",
           "start worker threads", "hash a password safely", "read a zip archive", "serve files over http",
           "format dates and times"] * 3
    with adapted.client("admin") as client:
        before = _ok(client.get(adapted.url()))
        job = _ok(client.post(adapted.url("/adapt"), json={"queries": log, "max_steps": 2}), 202)["job"]
        state = _finished(client, job)
        assert state["state"] == "done" and state["progress"] == 1.0, state
        result = state["result"]
        assert result["validation"] is not None and isinstance(result["accepted"], bool)
        after = _ok(client.get(adapted.url()))
        # kept only if it won the label-free validation; otherwise the collection keeps its encoder
        assert (after["encoder"] != before["encoder"]) == result["accepted"] and after["index_agrees"]


@pytest.mark.slow
def test_adapt_switches_the_served_encoder(start_server: Any) -> None:
    adapted = start_server(name="adapted")
    with adapted.client("admin") as client:
        before = _ok(client.get(adapted.url()))
        job = _ok(client.post(adapted.url("/adapt"), json={"objective": "crops", "epochs": 1, "max_steps": 2}),
                  202)["job"]
        while _ok(client.get(f"/api/jobs/{job}"))["state"] in ("queued", "running"):
            assert _ok(client.post(adapted.url("/search"), json={"query": "compress", "k": 2}))["hits"]
            time.sleep(0.2)
        state = _ok(client.get(f"/api/jobs/{job}"))
        assert state["state"] == "done", state
        assert str(adapted.path) not in json.dumps(state["result"])
        after = _ok(client.get(adapted.url()))
        assert after["encoder"] != before["encoder"] and after["index_agrees"]
        hits = _ok(client.post(adapted.url("/search"), json={"query": "compress data with gzip", "k": 3,
                                                              "mode": "dense"}))["hits"]
        assert any(hit["metadata"]["area"] == "compression and archives" for hit in hits)
