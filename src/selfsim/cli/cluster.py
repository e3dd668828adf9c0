"""``selfsim cluster`` and ``selfsim eval clustering``: topics in a collection, and clustering against labels."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from selfsim.app import (
    DEFAULT_BACKEND,
    Collection,
    TopicConfig,
    TopicResult,
    clean_post,
    load_encoder,
    parse_filter,
    topic_map,
    topic_timeline,
    write_map_html,
    write_map_png,
    write_timeline_png,
    write_topic_tree_html,
    write_topic_tree_png,
)
from selfsim.cli.common import (
    BackendOption,
    console,
    errors,
    plain,
    print_json,
    progress_bar,
    reported_warnings,
    safe,
    split_values,
)
from selfsim.config import DEFAULT_ENCODER
from selfsim.errors import ConfigError
from selfsim.evaluation.clustering import evaluate_clustering, read_labelled_texts

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]
ReduceOption = Annotated[str, typer.Option("--reduce", help="Reduction before clustering: none, pca, umap or "
                                                            "auto (UMAP from 1,000 items on, else PCA).")]
MethodOption = Annotated[str, typer.Option("--method", help="kmeans, hdbscan, agglomerative, gmm, gmm-full, none or "
                                                            "auto (k-means).")]
DimsOption = Annotated[int | None, typer.Option("--dims", help="Dimensions after reduction (default: 50 for "
                                                               "PCA, 5 for UMAP).")]


def _topic_config(reduce: str, dims: int | None, method: str, k: int | None, k_range: str, select_by: str,
                  min_cluster_size: int, top_words: int, seed: int, reduce_to: int | None = None) -> TopicConfig:
    try:
        start, stop, *rest = (int(part) for part in k_range.split(":"))
    except ValueError:
        raise ConfigError(f"cannot read --k-range {k_range!r}; write start:stop or start:stop:step, "
                          "such as 5:40:5.") from None
    return TopicConfig(reduce=reduce, reduce_dims=dims, cluster=method, k=k, k_range=(start, stop, rest[0] if rest
                                                                                         else 1),
                       select_by=select_by, min_cluster_size=min_cluster_size, top_words=top_words,  # type: ignore
                       seed=seed, reduce_to=reduce_to)


def cluster(
    collection: CollectionArg,
    reduce: ReduceOption = TopicConfig.reduce,
    dims: DimsOption = None,
    method: MethodOption = TopicConfig.cluster,
    k: Annotated[int | None, typer.Option("-k", "--k", help="Number of clusters (default: chosen over "
                                                              "--k-range).")] = None,
    k_range: Annotated[str, typer.Option(help="Candidates for k when it is not given: start:stop:step.")] = "5:40:5",
    select_by: Annotated[str, typer.Option(help="How k is chosen: silhouette or coherence.")] = "silhouette",
    min_cluster_size: Annotated[int, typer.Option(help="Smallest cluster HDBSCAN keeps.")] = 15,
    top_words: Annotated[int, typer.Option(help="Keywords per cluster.")] = 10,
    filter: Annotated[list[str] | None, typer.Option("--filter", "-f", help="Only items passing this metadata "
                                                                            "condition (repeatable).")] = None,
    write: Annotated[bool, typer.Option("--write", help="Store each item's cluster and its keywords as "
                                                        "metadata.")] = False,
    field: Annotated[str, typer.Option(help="Metadata field for the cluster id with --write "
                                            "(keywords go to FIELD_keywords).")] = "cluster",
    png: Annotated[Path | None, typer.Option(help="Draw a 2-D map of the clusters to this PNG.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write an interactive 2-D map (one offline HTML file).")] = None,
    map_method: Annotated[str, typer.Option(help="Projection for the maps: auto (UMAP if installed, else PCA), "
                                                 "umap or pca.")] = "auto",
    reduce_to: Annotated[int | None, typer.Option("--reduce-to", help="Merge the most similar topics (words and "
                                                                      "centres) until this many remain.")] = None,
    tree_png: Annotated[Path | None, typer.Option(help="Draw the topic hierarchy (merge order) to this PNG.")] = None,
    tree_html: Annotated[Path | None, typer.Option(help="Write the topic hierarchy as one offline HTML page.")
                         ] = None,
    time_field: Annotated[str | None, typer.Option(help="Metadata field with each item's time (ISO 8601 or "
                                                        "seconds since 1970): count topics per period.")] = None,
    period: Annotated[str, typer.Option(help="Period for --time-field: auto, day, week, month, quarter or "
                                             "year.")] = "auto",
    time_png: Annotated[Path | None, typer.Option(help="Plot topics over time (needs --time-field) to this "
                                                       "PNG.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Cluster COLLECTION into topics labelled by keywords; optionally write them back and draw a map.

    With --write, items added later get the nearest of these topics as they are indexed (or -1 when far from
    every topic)."""
    config = _topic_config(reduce, dims, method, k, k_range, select_by, min_cluster_size, top_words, seed, reduce_to)
    if time_png is not None and time_field is None:
        raise ConfigError("--time-png needs --time-field, the metadata field that holds each item's time.")
    spec = parse_filter(filter or [])
    with Collection.open(collection) as target, reported_warnings():
        started = time.perf_counter()
        result = target.topics(config, spec)
        written = target.write_topics(result, field) if write else None
        texts = {item.id: item.text for item in target.items(spec)} if (png or html or not json_output) else {}
        times = {item.id: item.metadata.get(time_field) for item in target.items(spec)} if time_field else {}
    if png or html:
        _maps(result, texts, png, html, map_method, seed, str(collection.name))
    title = str(collection.name)
    if tree_png is not None:
        write_topic_tree_png(tree_png, result, title=f"{title}: topic hierarchy")
        errors.print(f"wrote {safe(tree_png)}")
    if tree_html is not None:
        write_topic_tree_html(tree_html, result, title=f"{title}: topic hierarchy")
        errors.print(f"wrote {safe(tree_html)}")
    timeline = topic_timeline(result, times, period) if time_field else None
    if timeline is not None and time_png is not None:
        write_timeline_png(time_png, timeline, title=f"{title}: topics over time")
        errors.print(f"wrote {safe(time_png)}")
    data = result.to_dict()
    data["seconds"]["total"] = round(time.perf_counter() - started, 3)
    data["written"] = written
    if timeline is not None:
        data["over_time"] = timeline.to_dict()
    if json_output:
        print_json(data)
        return
    _print_topics(result, texts, data)
    if timeline is not None:
        _print_timeline(timeline)
    if written is not None:
        console.print(f"wrote {safe(field)} and {safe(field)}_keywords to {written:,} items; filter with "
                      f"--filter {safe(field)}=<id>; items indexed from now on get the nearest topic (-1: none)")


def _print_timeline(timeline, top: int = 6) -> None:  # noqa: ANN001 - a TopicTimeline
    totals = timeline.counts.sum(axis=0)
    columns = [i for i in np.argsort(-totals, kind="stable") if timeline.topics[i] >= 0][:top]
    table = Table(title=f"items per {timeline.period} (largest {len(columns)} topics)"
                        + (f"; {timeline.undated:,} undated" if timeline.undated else ""))
    table.add_column("period")
    for i in columns:
        table.add_column(safe(f"{timeline.topics[i]}: {timeline.names.get(timeline.topics[i], '')}"),
                         justify="right", overflow="fold")
    for name, row in zip(timeline.periods, timeline.counts.tolist(), strict=True):
        table.add_row(safe(name), *(f"{row[i]:,}" for i in columns))
    console.print(table)


def _maps(result: TopicResult, texts: dict[str, str], png: Path | None, html: Path | None, method: str, seed: int,
          title: str) -> None:
    started = time.perf_counter()
    coordinates = topic_map(result, method, seed)
    if png is not None:
        write_map_png(png, result, coordinates, title=f"{title}: {len(result.ids):,} items")
        errors.print(f"wrote {safe(png)}")
    if html is not None:
        write_map_html(html, result, coordinates, texts, title=title)
        errors.print(f"wrote {safe(html)}")
    result.seconds["map"] = time.perf_counter() - started


def _print_topics(result: TopicResult, texts: dict[str, str], data: dict) -> None:
    if result.k_scores:
        scores = ", ".join(f"{k}: {v:.3f}" for k, v in result.k_scores.items())
        console.print(f"k chosen: [bold]{result.k}[/] ({scores})")
    if result.merged_from:
        merged = sum(len(old) > 1 for old in result.merged_from.values())
        console.print(f"merged the closest topics down to {len(result.merged_from)} ({merged} of them hold "
                      "more than one of the topics first found)")
    figures = [f"{len(result.model.topics_)} clusters over {len(result.ids):,} items"]
    if result.model.noise_:
        figures.append(f"{result.model.noise_:,} items in no cluster (noise)")
    for name in ("coherence_npmi", "diversity", "silhouette"):
        if data.get(name) is not None:
            figures.append(f"{name} {data[name]:.3f}")
    console.print("; ".join(figures))
    table = Table(show_lines=True)
    for column in ("cluster", "size", "keywords", "representative"):
        table.add_column(column, justify="right" if column in ("cluster", "size") else "left",
                         ratio=1 if column == "representative" else None, overflow="fold")
    for topic in result.model.topics_:
        first = topic.representatives[0] if topic.representatives else None
        text = " ".join(texts.get(first, "").split()) if first else ""
        shown = Text.assemble((plain(first or ""), "dim"), " " if first else "",
                              plain(text[:160] + ("…" if len(text) > 160 else "")))
        table.add_row(str(topic.cluster), f"{topic.size:,}", safe(", ".join(topic.keywords[:8])), shown)
    console.print(table)


def eval_clustering(
    file: Annotated[Path, typer.Argument(help="JSONL (optionally .gz) with a text and a label per line.")],
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    label_field: Annotated[str, typer.Option(help="Field holding the label.")] = "label",
    limit: Annotated[int | None, typer.Option(help="Use only the first N rows.")] = None,
    encoder: Annotated[str, typer.Option(help="Registered encoder name or model directory.")] = DEFAULT_ENCODER,
    backend: BackendOption = DEFAULT_BACKEND,
    reduce: ReduceOption = TopicConfig.reduce,
    dims: DimsOption = None,
    method: MethodOption = TopicConfig.cluster,
    k: Annotated[int | None, typer.Option("-k", "--k", help="Clusters (default: the number of labels).")] = None,
    baselines: Annotated[list[str] | None, typer.Option(help="Baselines to run beside the embedding: lsa, lda "
                                                             "(default both; 'none' for neither).")] = None,
    clean_posts: Annotated[bool, typer.Option(help="Strip e-mail headers (keeping the subject), quoted replies "
                                                   "and signatures before embedding and counting.")] = False,
    max_words: Annotated[int, typer.Option(help="Words of each text the encoder reads (it truncates at its "
                                                "limit anyway).")] = 230,
    cache: Annotated[Path | None, typer.Option(help="Save the text vectors to this .npy file, and reuse it when "
                                                    "it holds one vector per text.")] = None,
    coherence: Annotated[bool, typer.Option(help="Also measure NPMI coherence and topic diversity.")] = True,
    coherence_method: Annotated[str, typer.Option(help="How NPMI counts windows: selfsim (boolean windows) or "
                                                       "c_npmi (as gensim's CoherenceModel, for published "
                                                       "figures).")] = "selfsim",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """V-measure, NMI and ARI against the labels: the embedding pipeline beside the LDA and LSA baselines."""
    if coherence_method not in ("selfsim", "c_npmi"):
        raise ConfigError(f"unknown --coherence-method {coherence_method!r}; use selfsim or c_npmi.")
    data = read_labelled_texts(file, text_field, label_field, limit=limit)
    if clean_posts:
        data = type(data)(data.ids, [clean_post(t) for t in data.texts], data.labels)
    wanted = [b for b in split_values(baselines) or ["lsa", "lda"] if b != "none"]
    config = TopicConfig(reduce=reduce, reduce_dims=dims, cluster=method, k=k, seed=seed)
    vectors = _vectors(data.texts, encoder, backend, max_words, cache)
    results = evaluate_clustering(data, vectors, config, wanted, coherence,
                                  progress=lambda name: errors.print(f"clustering: {safe(name)}"),
                                  coherence_method=coherence_method)  # type: ignore[arg-type]
    report = {"file": str(file), "texts": len(data), "labels": len(set(data.labels)), "encoder": encoder,
              "clean_posts": clean_posts, "coherence_method": coherence_method,
              "results": [r.to_dict() for r in results]}
    if json_output:
        print_json(report)
        return
    table = Table(title=f"clustering: {safe(file.name)} ({len(data):,} texts, {report['labels']} labels)")
    for column in ("method", "V-measure", "NMI", "ARI", f"NPMI ({coherence_method})", "diversity", "clusters",
                   "noise", "seconds"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in results:
        table.add_row(safe(row.method), f"{100 * row.v_measure:.2f}", f"{100 * row.nmi:.2f}", f"{100 * row.ari:.2f}",
                      "" if row.coherence is None else f"{row.coherence:.3f}",
                      "" if row.diversity is None else f"{row.diversity:.3f}", str(row.clusters), str(row.noise),
                      f"{row.seconds:.1f}")
    console.print(table)
    for row in results:
        settings = {k: v for k, v in row.settings.items() if k not in ("vocabulary",)}
        console.print(Text(f"{plain(row.method)}: {plain(settings)}", style="dim"))


def _vectors(texts: list[str], encoder: str, backend: str, max_words: int, cache: Path | None) -> np.ndarray:
    if cache is not None and cache.is_file():
        vectors = np.load(cache)
        if len(vectors) == len(texts):
            errors.print(f"using the vectors in {safe(cache)}")
            return vectors
    model = load_encoder(encoder, backend)
    shortened = [" ".join(t.split(" ")[:max_words]) for t in texts]
    with progress_bar("texts") as bar:
        task = bar.add_task("embedding", total=len(texts))
        vectors = model.encode(shortened, progress=lambda n: bar.advance(task, n))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return vectors

