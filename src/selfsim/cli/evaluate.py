"""``selfsim eval ...``: score selfsim on standard benchmarks."""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from selfsim.app import DEFAULT_BACKEND, Collection, evaluate_search
from selfsim.cli.classify import eval_classify
from selfsim.cli.cluster import eval_clustering
from selfsim.cli.common import BackendOption, console, print_json, progress_bar, safe, split_values
from selfsim.cli.duplicates import eval_pairs
from selfsim.cli.recommend import eval_recommend
from selfsim.cli.train import eval_sts
from selfsim.config import DEFAULT_ENCODER, SearchConfig
from selfsim.errors import ConfigError
from selfsim.evaluation.retrieval import read_corpus, read_qrels, read_queries

app = typer.Typer(help="Evaluate on standard benchmarks.", no_args_is_help=True)
app.command("classify")(eval_classify)
app.command("pairs")(eval_pairs)
app.command("clustering")(eval_clustering)
app.command("sts")(eval_sts)
app.command("recommend")(eval_recommend)


@app.command()
def retrieval(
    queries: Annotated[Path, typer.Option(help="BEIR queries .jsonl (_id, text).")],
    qrels: Annotated[Path, typer.Option(help="BEIR qrels TSV (query-id, corpus-id, score).")],
    corpus: Annotated[Path | None, typer.Option(help="BEIR corpus.jsonl (_id, title, text); optional with an "
                                                     "indexed --collection.")] = None,
    encoder: Annotated[str, typer.Option(help="Registered encoder name or model directory (for a new "
                                              "collection; an existing one uses its own).")] = DEFAULT_ENCODER,
    backend: BackendOption = DEFAULT_BACKEND,
    collection: Annotated[Path | None, typer.Option(
        help="Score this collection as it stands, with its own (perhaps adapted) encoder and backend; with "
             "--corpus, index the corpus into it first if it does not hold it (default: a temporary "
             "one).")] = None,
    modes: Annotated[list[str] | None, typer.Option(help="Search modes to score (default: all three).")] = None,
    fusion: Annotated[str, typer.Option(help="Hybrid fusion: rrf or weighted.")] = SearchConfig.fusion,
    rrf_k: Annotated[float, typer.Option(help="Reciprocal-rank fusion constant.")] = SearchConfig.rrf_k,
    dense_weight: Annotated[float, typer.Option(help="Weight of the dense signal.")] = SearchConfig.dense_weight,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of dense, keyword and hybrid search on a BEIR-layout set.

    An existing --collection is scored as it stands, with the encoder and backend it records (an adapted
    collection with its adapted model); the result names that encoder."""
    config = SearchConfig(fusion=fusion, rrf_k=rrf_k, dense_weight=dense_weight)  # type: ignore[arg-type]
    wanted = split_values(modes) or ["dense", "keyword", "hybrid"]
    existing = collection is not None and (collection / "collection.sqlite").is_file()
    if corpus is None and not existing:
        raise ConfigError("give --corpus to index, or --collection pointing at a collection that holds the corpus.")
    question_texts = read_queries(queries)
    judgements = read_qrels(qrels)
    with tempfile.TemporaryDirectory(prefix="selfsim-eval-") as scratch:
        path = collection or Path(scratch) / "corpus"
        started = time.perf_counter()
        with Collection.open_or_create(path, encoder=encoder, backend=backend) as target:
            documents = list(read_corpus(corpus)) if corpus is not None else []
            index_seconds = 0.0
            if documents and len(target) != len(documents):
                with progress_bar("docs") as bar:
                    task = bar.add_task("indexing corpus", total=len(documents))
                    report = target.upsert(documents, progress=lambda n: bar.advance(task, n))
                index_seconds = report.seconds
            judged = sum(1 for q in question_texts if q in judgements)
            with progress_bar("queries") as bar:
                task = bar.add_task("searching", total=judged * len(wanted))
                scores = evaluate_search(target, question_texts, judgements, wanted,
                                         config, progress=lambda n: bar.advance(task, n))
            result = {
                "corpus": str(corpus) if corpus is not None else None, "collection": str(path) if collection else None,
                "queries": str(queries), "qrels": str(qrels),
                "documents": len(target), "chunks": target.info()["chunks"], "encoder": target.encoder.name,
                "encoder_version": target.encoder.version, "backend": target.backend,
                "search_config": {"fusion": config.fusion, "rrf_k": config.rrf_k,
                                  "dense_weight": config.dense_weight, "candidates": config.candidates},
                "scores": {s.mode: {"ndcg@10": round(s.ndcg_at_10, 4), "recall@100": round(s.recall_at_100, 4),
                                    "mrr@10": round(s.mrr_at_10, 4), "queries": s.queries} for s in scores},
                "index_seconds": round(index_seconds, 1),
                "total_seconds": round(time.perf_counter() - started, 1),
                "machine": f"{platform.machine()} {platform.processor() or ''} {_cores()} cores".strip(),
            }
    if json_output:
        print_json(result)
        return
    source = corpus.name if corpus is not None else str(collection)
    table = Table(title=f"retrieval: {safe(queries.name)} over {safe(source)} ({result['documents']:,} documents)",
                  caption=f"encoder {safe(result['encoder'])} ({safe(result['backend'])}, weights "
                          f"{safe(result['encoder_version'])})")
    for column in ("mode", "nDCG@10", "Recall@100", "MRR@10", "queries"):
        table.add_column(column, justify="right" if column != "mode" else "left")
    for mode, values in result["scores"].items():
        table.add_row(safe(mode), f"{values['ndcg@10']:.4f}", f"{values['recall@100']:.4f}", f"{values['mrr@10']:.4f}",
                      str(values["queries"]))
    console.print(table)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
