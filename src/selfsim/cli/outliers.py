"""``selfsim outliers``: the items of a collection that few other items lie near, ranked, with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from selfsim.app import Collection, OutlierDetector, OutliersConfig, parse_filter
from selfsim.cli.common import console, print_json, reported_warnings, safe

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]
SNIPPET = 160  # characters of each outlier's text in the table


def outliers(
    collection: CollectionArg,
    k: Annotated[int, typer.Option("-k", "--k", help="Nearest items looked at per item.")] = OutliersConfig.k,
    radius: Annotated[float | None, typer.Option(help="Cosine similarity within which an item counts as a "
                                                      "neighbour (default: chosen from the data).")] = None,
    min_neighbours: Annotated[int, typer.Option(help="An item with fewer neighbours than this within the radius "
                                                     "is an outlier.")] = OutliersConfig.min_neighbours,
    percentile: Annotated[float, typer.Option(help="Without --radius: the radius is this percentile of the items' "
                                                   "cosine to their k-th neighbour.")] = OutliersConfig.percentile,
    top: Annotated[int, typer.Option(help="Outliers reported (and written with --write), loneliest "
                                          "first.")] = 20,
    signal: Annotated[str, typer.Option(help="neighbours: few neighbours within the radius; reconstruction: a "
                                             "vector quantiser fitted on the other items rebuilds the item "
                                             "badly.")] = OutliersConfig.signal,
    filter: Annotated[list[str] | None, typer.Option("--filter", "-f", help="Only items passing this metadata "
                                                                            "condition (repeatable).")] = None,
    write: Annotated[bool, typer.Option("--write", help="Store FIELD=true, FIELD_score and FIELD_reason on the "
                                                        "outliers (removed from items no longer outliers).")] = False,
    field: Annotated[str, typer.Option(help="Metadata field that marks outliers with --write.")] = "outlier",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the items of COLLECTION with few neighbours within a radius, loneliest first, each with the reason."""
    config = OutliersConfig(k=k, radius=radius, min_neighbours=min_neighbours, top=top, percentile=percentile,
                            signal=signal)
    spec = parse_filter(filter or [])
    with Collection.open(collection) as target, reported_warnings():
        detector = target.outliers(config, spec)
        texts = {o.id: target.get(o.id).text for o in detector.outliers_}
        written = target.write_outliers(detector, field) if write else None
    report = _report(detector, texts, written, field)
    if json_output:
        print_json(report)
    else:
        _table(report)


def _report(detector: OutlierDetector, texts: dict[str, str], written: int | None, field: str) -> dict[str, Any]:
    summary = detector.summary()
    summary["outliers"] = [{"rank": rank, **outlier, "text": texts[outlier["id"]]}
                           for rank, outlier in enumerate(summary["outliers"], start=1)]
    return {**summary, "written": written, "field": field if written is not None else None}


def _table(report: dict[str, Any]) -> None:
    chosen = (f"chosen as the {report['percentile']:g}th percentile of the items' cosine to their k-th neighbour"
              if report["radius_chosen"] else "given")
    if report.get("error_threshold") is not None:
        console.print(f"{report['items']:,} items checked; [bold]{report['flagged']:,}[/] outliers: rebuilt by a "
                      f"vector quantiser fitted on the other items with squared error above "
                      f"{report['error_threshold']:.3f} (the median item's: {report['median_error']:.3f})")
    else:
        console.print(f"{report['items']:,} items checked; [bold]{report['flagged']:,}[/] outliers: fewer than "
                      f"{report['min_neighbours']} of their {report['k']} nearest items within cosine "
                      f"{report['radius']:.3f} ({chosen})")
    if report["outliers"]:
        table = Table(show_lines=True)
        for column in ("rank", "id", "score", "reason", "text"):
            table.add_column(column, overflow="fold", justify="right" if column in ("rank", "score") else "left",
                             ratio=1 if column in ("reason", "text") else None)
        for outlier in report["outliers"]:
            text = " ".join(outlier["text"].split())
            table.add_row(str(outlier["rank"]), safe(outlier["id"]), f"{outlier['score']:.3f}",
                          safe(outlier["reason"]), safe(text[:SNIPPET] + ("…" if len(text) > SNIPPET else "")))
        console.print(table)
        if report["flagged"] > len(report["outliers"]):
            more = report["flagged"] - len(report["outliers"])
            console.print(f"... {more:,} more outlier{'s' if more > 1 else ''} (raise --top to see them)")
    if report["written"] is not None:
        field = safe(report["field"])
        console.print(f"wrote {field}, {field}_score and {field}_reason to {report['written']:,} items; "
                      f"search with --filter \"{field}=true\" to see them")
