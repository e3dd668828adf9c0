"""``selfsim search``, ``selfsim get`` and ``selfsim info``: reading from a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from selfsim.app import Collection, parse_filter
from selfsim.cli.common import console, plain, print_json, reported_warnings, safe
from selfsim.config import SearchConfig

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]


def search(
    collection: CollectionArg,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many results.")] = 10,
    mode: Annotated[str, typer.Option(help="dense, keyword or hybrid.")] = "hybrid",
    filter: Annotated[list[str] | None, typer.Option(
        "--filter", "-f", help="Metadata condition, repeatable: lang=en, year>=2020, area in a,b, "
                               "tags has x, author exists.")] = None,
    fusion: Annotated[str, typer.Option(help="Hybrid fusion: rrf or weighted.")] = "rrf",
    dense_weight: Annotated[float, typer.Option(help="Weight of the dense signal in fusion (0-1).")] = 0.5,
    ef_search: Annotated[int | None, typer.Option(
        help="HNSW: candidates kept while searching the graph; higher finds more true neighbours, slower "
             "(the index's default: 384).")] = None,
    nprobe: Annotated[int | None, typer.Option(
        help="IVF: inverted lists searched; higher finds more true neighbours, slower (the index's default: "
             "32).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Search COLLECTION by meaning (dense), by words (keyword) or both (hybrid)."""
    config = SearchConfig(mode=mode, fusion=fusion, dense_weight=dense_weight,  # type: ignore[arg-type]
                          ef_search=ef_search, nprobe=nprobe)
    spec = parse_filter(filter or [])
    with Collection.open(collection) as target, reported_warnings():
        hits = target.search(query, k=k, filter=spec, config=config)
    if json_output:
        print_json([hit.to_dict() for hit in hits])
        return
    if not hits:
        console.print("no results")
        return
    table = Table(title=f"{safe(mode)} search: {safe(query)}", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("id", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("signals")
    table.add_column("text", ratio=1)
    for rank, hit in enumerate(hits, start=1):
        signals = " ".join(f"{name}#{signal.rank}" for name, signal in hit.signals.items())
        text = " ".join(hit.text.split())
        table.add_row(str(rank), safe(hit.id), f"{hit.score:.3f}", signals,
                      safe(text[:240] + ("…" if len(text) > 240 else "")))
    console.print(table)


def get(
    collection: CollectionArg,
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the item as JSON.")] = False,
) -> None:
    """Show one item: its text and metadata."""
    with Collection.open(collection) as target:
        item = target.get(item_id)
    data = {"id": item.id, "text": item.text, "metadata": item.metadata}
    if json_output:
        print_json(data)
    else:
        # Whole lines of data: Text is never parsed as markup.
        console.print(Text(plain(item.id), style="bold"), Text(plain(item.metadata)))
        console.print(Text(plain(item.text)))


def info(
    collection: CollectionArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Summarise COLLECTION: counts, encoder, index, generation."""
    with Collection.open(collection) as target:
        data = target.info()
    if json_output:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"[bold]{key}[/]: {safe(value)}")
