"""The facade's ways of looking around a collection: pages, neighbours, stored topics and the map."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from selfsim.app import Collection, Label, TopicConfig, explanation_html, parse_filter
from selfsim.errors import InputError, NotFoundError


def test_pages_cover_the_filtered_items_once_in_order(sample: Collection) -> None:
    spec = parse_filter(["kind=function"])
    wanted = [item.id for item in sample.items(spec)]
    seen: list[str] = []
    offset = 0
    while True:
        page = sample.page(offset, 7, spec)
        assert page.total == len(wanted) and page.offset == offset and page.limit == 7
        if not page.items:
            break
        seen += [item.id for item in page.items]
        offset += 7
    assert seen == wanted and len(wanted) > 7


def test_a_bad_page_says_what_is_allowed(sample: Collection) -> None:
    with pytest.raises(InputError, match="offset"):
        sample.page(-1)
    with pytest.raises(InputError, match="limit"):
        sample.page(0, 0)
    with pytest.raises(InputError, match="filter"):
        parse_filter(["kind >> 3"])
    assert parse_filter([]) is None


def test_neighbours_leave_the_item_out_and_rank_by_cosine(sample: Collection) -> None:
    ids, vectors = sample.vectors()
    row = 3
    hits = sample.neighbours(ids[row], k=5)
    assert len(hits) == 5 and ids[row] not in [hit.id for hit in hits]
    expected = np.argsort(-(vectors @ vectors[row]))
    expected_ids = [ids[r] for r in expected.tolist() if r != row][:5]
    assert [hit.id for hit in hits] == expected_ids
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    with pytest.raises(NotFoundError):
        sample.neighbours("no such id")


def test_topics_written_are_listed_and_mapped(sample_copy: Collection) -> None:
    assert sample_copy.topic_list() == []
    result = sample_copy.topics(TopicConfig(k=4), write=True, field="topic", measure=False)
    listed = sample_copy.topic_list("topic")
    sizes = {int(t): int((result.model.labels_ == t).sum()) for t in np.unique(result.model.labels_)}
    assert {s.topic: s.size for s in listed} == sizes
    assert all(s.keywords for s in listed if s.topic != -1)
    data = sample_copy.map_points("topic", limit=50, method="pca")
    shape: dict[str, Any] = data.to_dict()
    assert len(shape["points"]) == 50 and shape["total"] == len(sample_copy)
    assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 and p["topic"] in sizes for p in shape["points"])
    assert {t["topic"] for t in shape["topics"]} <= set(sizes)
    again = sample_copy.map_points("topic", limit=50, method="pca")  # read back from the cache
    assert again.ids == data.ids and np.allclose(again.x, data.x)


def test_the_classifier_handle_fits_predicts_and_suggests(sample_copy: Collection,
                                                          sample_records: list[dict[str, Any]]) -> None:
    labelled = [(r["id"], r["area"]) for r in sample_records[::3]]
    sample_copy.labels.put("area", [Label(item_id, area) for item_id, area in labelled])
    handle = sample_copy.classifier("area")
    report = handle.fit()
    assert report.labelled == len(labelled)
    answer = handle.predict([sample_records[1]["text"]])[0]
    assert set(answer) >= {"label", "confidence", "probabilities"}
    suggested = handle.suggest(3)
    assert len(suggested) == 3 and not {s["id"] for s in suggested} & {i for i, _ in labelled}


def test_explanation_html_has_one_escaped_fragment_per_side(sample: Collection) -> None:
    item = next(iter(sample))
    fragments = explanation_html(sample.explain_search("<b>read</b> a file", item.id))
    assert set(fragments) == {"query", "item"}
    assert "<b>" not in fragments["query"] and "&lt;b&gt;" in fragments["query"]
