"""``selfsim check``: is the database sound and does the vector index agree with it?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from selfsim.app import Collection
from selfsim.cli.common import console, errors, print_json


def check(
    collection: Annotated[Path, typer.Argument(help="Collection directory.")],
    repair: Annotated[bool, typer.Option(help="Rebuild and save a vector index that disagrees with the "
                                              "store.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify COLLECTION: SQLite's integrity checks, and one vector per chunk in the index (no ghosts of
    deleted chunks, none missing, none twice). Exits with 1 when a problem remains."""
    with Collection.open(collection) as target:
        report = target.check(repair=repair)
    if json_output:
        print_json(report.to_dict())
    else:
        console.print(f"database: {'ok' if not report.database_problems else 'DAMAGED'}", highlight=False)
        for problem in report.database_problems[:20]:
            console.print(f"  {escape(problem)}", highlight=False)
        for label, agreement in (("index", report.index), ("index after repair", report.repaired)):
            if agreement is None:
                continue
            verdict = "agrees" if agreement.agrees else "DISAGREES"
            console.print(f"{label}: {verdict} at generation {agreement.generation:,}: {agreement.vectors:,} "
                          f"vectors for {agreement.chunks:,} chunks, {agreement.ghosts:,} ghosts, "
                          f"{agreement.missing:,} missing, {agreement.duplicates:,} duplicates", highlight=False)
        for note in report.notes:
            console.print(escape(note), highlight=False)
        if not repair and not report.index.agrees:
            errors.print("run selfsim check --repair to rebuild the vector index from the stored vectors",
                         highlight=False)
    if not report.ok:
        raise typer.Exit(1)
