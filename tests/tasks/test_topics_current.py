"""Topics that stay current: new items get the nearest topic (or -1), topics merge closest-first, the merge tree
and topics over time are drawn, and the default pipeline picks UMAP + a mixture only where it pays."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from selfsim import Collection
from selfsim.errors import ConfigError
from selfsim.tasks.topics.assign import ARRAYS_FILE, OUTLIER, SETTINGS_FILE, AssignConfig, TopicAssigner
from selfsim.tasks.topics.model import TopicConfig, fit_topics
from selfsim.tasks.topics.plots import write_timeline_png, write_tree_html, write_tree_png
from selfsim.tasks.topics.timeline import parse_time, topics_over_time

WORDS = [["apple", "banana", "cherry", "pear", "grape", "orchard"],
         ["apple", "banana", "plum", "melon", "berry", "orchard"],  # planted close to topic 0, in words and space
         ["engine", "wheel", "brake", "gearbox", "clutch", "garage"],
         ["goal", "match", "referee", "league", "striker", "stadium"]]


def planted(per: int = 40, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Four planted topics; 0 and 1 are the closest pair. Returns vectors, labels, texts and the centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, dim)) * 3
    centres[1] = centres[0] + rng.normal(size=dim) * 1.2
    labels = np.repeat(np.arange(4), per)
    vectors = centres[labels] + rng.normal(size=(len(labels), dim)) * 0.5
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [" ".join(rng.choice(WORDS[c], 5)) + " was in the notes" for c in labels]
    return vectors.astype(np.float32), labels, texts, centres


def new_items(centres: np.ndarray, per: int = 10, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(centres)), per)
    vectors = centres[labels] + rng.normal(size=(len(labels), centres.shape[1])) * 0.5
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def test_transform_assigns_planted_new_items_to_their_planted_topic_and_far_items_to_outlier(tmp_path: Path) -> None:
    vectors, labels, texts, centres = planted()
    result = fit_topics(vectors, texts, config=TopicConfig(reduce="none", cluster="kmeans", k=4), measure=False)
    found = result.model.labels_
    topic_of = {planted_topic: int(np.bincount(found[labels == planted_topic]).argmax()) for planted_topic in range(4)}
    assert len(set(topic_of.values())) == 4
    assigner = result.assigner()
    fresh, fresh_labels = new_items(centres)
    topics, similarity = assigner.assign(fresh)
    assert topics.tolist() == [topic_of[t] for t in fresh_labels.tolist()]
    assert similarity.min() > 0.5
    far = -vectors[:3]  # pointing away from every topic
    assert assigner.assign(far)[0].tolist() == [OUTLIER] * 3
    # the artifact is arrays and JSON only, and loads to the same answers
    saved = assigner.save(tmp_path / "topics" / "cluster", {"field": "cluster"})
    assert sorted(p.name for p in saved.iterdir()) == sorted([ARRAYS_FILE, SETTINGS_FILE])
    loaded, info = TopicAssigner.load(saved)
    assert info["field"] == "cluster" and np.array_equal(loaded.assign(fresh)[0], topics)
    assigner.save(saved, {"field": "cluster", "again": True})  # replacing an artifact keeps one whole directory
    assert TopicAssigner.load(saved)[1]["again"] is True and len(list(saved.parent.iterdir())) == 1
    with pytest.raises(ConfigError):
        assigner.assign(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ConfigError):
        AssignConfig(outlier_quantile=1.5)


def test_reduce_to_merges_the_two_closest_planted_topics_first() -> None:
    vectors, labels, texts, _ = planted()
    base = TopicConfig(reduce="none", cluster="kmeans", k=4)
    result = fit_topics(vectors, texts, config=base, measure=False)
    found = result.model.labels_
    cluster_of = {t: int(np.bincount(found[labels == t]).argmax()) for t in range(4)}
    first = result.hierarchy.merges[0]
    leaf_clusters = {result.hierarchy.clusters[first.left], result.hierarchy.clusters[first.right]}
    assert leaf_clusters == {cluster_of[0], cluster_of[1]}
    assert len(result.hierarchy.merges) == 3 and result.hierarchy.merges[-1].size == len(labels)
    reduced = fit_topics(vectors, texts, config=TopicConfig(reduce="none", cluster="kmeans", k=4, reduce_to=3),
                         measure=False)
    assert len(reduced.model.topics_) == 3
    merged = [old for old in reduced.merged_from.values() if len(old) > 1]
    assert [sorted(m) for m in merged] == [sorted([cluster_of[0], cluster_of[1]])]
    together = reduced.model.labels_[labels <= 1]
    assert len(set(together.tolist())) == 1 and reduced.model.topics_[0].size == 2 * 40
    assert {"apple", "banana", "orchard"} <= set(reduced.model.topics_[0].keywords[:3])  # relabelled when merged
    with pytest.raises(ConfigError):
        TopicConfig(reduce_to=0)


def test_hierarchy_outputs_are_well_formed(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    vectors, _, texts, _ = planted(per=15)
    result = fit_topics(vectors, texts, config=TopicConfig(reduce="none", cluster="kmeans", k=4), measure=False)
    tree = result.hierarchy
    linkage = tree.linkage()
    assert linkage.shape == (3, 4) and np.all(np.diff(linkage[:, 2]) >= 0) and linkage[-1, 3] == 4
    assert tree.groups(1) == dict.fromkeys(tree.clusters, 0) and len(set(tree.groups(4).values())) == 4
    png = write_tree_png(tmp_path / "tree.png", tree)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = write_tree_html(tmp_path / "tree.html", tree, title="tree <t>").read_text(encoding="utf-8")
    scripts: list[str] = []

    class Parser(HTMLParser):
        def handle_data(self, data: str) -> None:
            if self.lasttag == "script" and data.strip().startswith("{"):
                scripts.append(data)

    Parser().feed(page)
    root = json.loads(scripts[0])["root"]

    def leaves(node: dict) -> list[dict]:
        return [node] if "children" not in node else [leaf for c in node["children"] for leaf in leaves(c)]

    assert root["size"] == 60 and sorted(leaf["topic"] for leaf in leaves(root)) == sorted(tree.clusters)
    assert "https://" not in page and "<title>tree &lt;t&gt;</title>" in page
    assert json.loads(json.dumps(result.to_dict()))["hierarchy"]["merges"][0]["node"] == 4


def test_topics_over_time_counts_per_period_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    ids = [str(i) for i in range(8)]
    labels = np.array([0, 0, 1, 1, 0, 1, -1, 0])
    times = {"0": "2024-01-05", "1": "2024-01-20T10:00:00Z", "2": "2024-01-31", "3": 1709251200,  # 2024-03-01
             "4": 1709251200000, "5": "2024-02-10", "6": "2024-02-11", "7": "not a date"}
    timeline = topics_over_time(ids, labels, times, "month", {0: "zero", 1: "one"})
    assert timeline.periods == ["2024-01", "2024-02", "2024-03"] and timeline.undated == 1
    assert timeline.topics == [-1, 0, 1]
    assert timeline.counts.tolist() == [[0, 2, 1], [1, 0, 1], [0, 1, 1]]
    assert timeline.counts.sum() == 7 and timeline.to_dict()["rows"][0]["counts"] == {"-1": 0, "0": 2, "1": 1}
    assert topics_over_time(ids, labels, times, "auto").period == "day"
    gap = topics_over_time(["a", "b"], np.array([0, 0]), {"a": "2024-01-31", "b": "2024-04-01"}, "month")
    assert gap.periods == ["2024-01", "2024-02", "2024-03", "2024-04"] and gap.counts[:, 0].tolist() == [1, 0, 0, 1]
    assert parse_time("2024-03-05T10:00:00+02:00").hour == 8 and parse_time(True) is None
    assert parse_time(float("nan")) is None and parse_time("tomorrow") is None
    png = write_timeline_png(tmp_path / "time.png", timeline)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError):
        topics_over_time(ids, labels, {}, "month")
    with pytest.raises(ConfigError):
        topics_over_time(ids, labels, times, "fortnight")


def test_default_pipeline_uses_umap_only_for_larger_collections() -> None:
    config = TopicConfig()
    small, large = config.resolved(200), config.resolved(5000)
    assert (small.reduce, small.cluster) == ("pca", "kmeans")
    assert large.reduce == "umap" and large.cluster in ("gmm", "gmm-full", "kmeans")
    assert TopicConfig(reduce="pca", cluster="gmm").resolved(5000).reduce == "pca"


TOPICS = {
    "cooking": ["Simmer the tomato sauce with garlic and basil", "Knead the bread dough and let it rise",
                "Roast the chicken with lemon and rosemary", "Whisk eggs and sugar for the sponge cake",
                "Fry the onions until golden before adding rice", "Season the soup with salt and pepper",
                "Bake the pie crust until it is crisp"],
    "space": ["The rocket launched a satellite into orbit", "Astronauts repaired the space station's solar panel",
              "The telescope observed a distant galaxy", "A probe landed on the surface of Mars",
              "The moon's gravity pulls the ocean tides", "A comet passed close to the sun",
              "The astronaut floated outside the spacecraft"],
    "football": ["The striker scored a late goal to win the match", "The referee showed the defender a red card",
                 "The team won the league after a penalty shootout", "The goalkeeper saved a penalty kick",
                 "Fans cheered as the club lifted the cup", "The coach picked a new captain for the squad",
                 "The midfielder passed the ball to the winger"],
}


def test_items_added_after_write_get_the_nearest_topic_on_ingest(make_collection) -> None:  # noqa: ANN001
    records = [{"id": f"{name}-{i}", "text": text, "area": name}
               for name, texts in TOPICS.items() for i, text in enumerate(texts)]
    collection: Collection = make_collection(records)
    result = collection.topics(TopicConfig(reduce="none", cluster="kmeans", k=3), write=True)
    written = {item.id: item.metadata["cluster"] for item in collection}
    topic_of = {name: max(set(written.values()), key=[written[f"{name}-{i}"] for i in range(7)].count)
                for name in TOPICS}
    assert len(set(topic_of.values())) == 3 and len(result.model.topics_) == 3
    saved = collection.path / "topics" / "cluster"
    assert (saved / SETTINGS_FILE).is_file() and (saved / ARRAYS_FILE).is_file()
    collection.add([{"id": "new-cooking", "text": "Stir the garlic into the hot olive oil and add the pasta"},
                    {"id": "new-space", "text": "The spacecraft entered orbit around the planet"},
                    {"id": "new-football", "text": "The forward headed the ball into the net for a goal"},
                    {"id": "new-other", "text": "Quarterly VAT invoices are reconciled against the ledger"}])
    for name in TOPICS:
        item = collection.get(f"new-{name}")
        assert item.metadata["cluster"] == topic_of[name], name
        assert item.metadata["cluster_keywords"] == next(
            t.keywords[:5] for t in result.model.topics_ if t.cluster == topic_of[name])
    other = collection.get("new-other").metadata
    assert other["cluster"] == OUTLIER and other.get("cluster_keywords") is None
    # a reopened collection keeps assigning (the topics live beside it, not in memory)
    path = collection.path
    collection.close()
    with Collection.open(path) as reopened:
        reopened.upsert([{"id": "later", "text": "The goalkeeper caught the cross in the last minute of the match"}])
        assert reopened.get("later").metadata["cluster"] == topic_of["football"]



def test_cluster_command_reduces_draws_the_tree_and_counts_over_time(make_collection, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("matplotlib")
    import typer
    from typer.testing import CliRunner

    from selfsim.cli.cluster import cluster

    app = typer.Typer()
    app.command("cluster")(cluster)
    app.command("other")(lambda: None)  # two commands, so typer keeps the command name
    records = [{"id": f"{name}-{i}", "text": text, "created": f"2024-0{1 + i % 3}-1{i}"}
               for name, texts in TOPICS.items() for i, text in enumerate(texts)]
    collection: Collection = make_collection(records)
    path = collection.path
    collection.close()
    outputs = {name: tmp_path / name for name in ("tree.png", "tree.html", "time.png")}
    result = CliRunner().invoke(app, ["cluster", str(path), "--k", "3", "--reduce", "none", "--reduce-to", "2",
                                      "--tree-png", str(outputs["tree.png"]), "--tree-html", str(outputs["tree.html"]),
                                      "--time-field", "created", "--period", "month", "--time-png",
                                      str(outputs["time.png"]), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clusters"] == 2 and sorted(len(v) for v in report["merged_from"].values()) == [1, 2]
    assert len(report["hierarchy"]["merges"]) == 2 and report["pipeline"]["reduce"] == "none"
    assert [row["period"] for row in report["over_time"]["rows"]] == ["2024-01", "2024-02", "2024-03"]
    assert sum(sum(row["counts"].values()) for row in report["over_time"]["rows"]) == 21
    assert all(p.stat().st_size > 500 for p in outputs.values())
    result = CliRunner().invoke(app, ["cluster", str(path), "--k", "3", "--time-png", str(outputs["time.png"])])
    assert isinstance(result.exception, ConfigError) and "--time-field" in str(result.exception)


def test_a_damaged_topics_artifact_warns_and_never_stops_ingest(make_collection) -> None:  # noqa: ANN001
    records = [{"id": f"{name}-{i}", "text": text} for name, texts in TOPICS.items() for i, text in enumerate(texts)]
    collection: Collection = make_collection(records)
    collection.topics(TopicConfig(reduce="none", cluster="kmeans", k=3), write=True)
    (collection.path / "topics" / "cluster" / SETTINGS_FILE).write_text("{not json")
    with pytest.warns(UserWarning, match="no topics"):
        collection.add([{"id": "new", "text": "The rocket reached orbit"}])
    assert "cluster" not in collection.get("new").metadata
