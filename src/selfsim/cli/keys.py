"""``selfsim keys create|list|revoke``: the API keys of a collection, for the HTTP service.

A key is printed once, when it is made; the collection keeps only its hash.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from selfsim.app import Collection
from selfsim.cli.common import console, errors, print_json, safe

app = typer.Typer(no_args_is_help=True, help="API keys of a collection for `selfsim serve` (read < write < admin).")

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


@app.command()
def create(
    collection: CollectionArg,
    role: Annotated[str, typer.Option(help="read (search and browse), write (also add, delete, label, fit) or "
                                           "admin (also adapt the encoder).")] = "read",
    name: Annotated[str, typer.Option(help="A note saying who or what the key is for.")] = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print the key and its record as JSON.")] = False,
) -> None:
    """Make an API key for COLLECTION and print it (once: only its hash is stored)."""
    with Collection.open(collection) as target:
        record, key = target.keys.create(role, name)
    if json_output:
        print_json({**record.to_dict(), "key": key})
        return
    errors.print(f"made a {safe(record.role)} key {safe(record.key_id)} for {safe(collection)}; it is shown once, "
                 "so keep it now (send it as 'Authorization: Bearer KEY'):", highlight=False)
    print(key)


@app.command("list")
def list_keys(
    collection: CollectionArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List COLLECTION's keys (ids, names, roles, when made, whether revoked; never the keys themselves)."""
    with Collection.open(collection) as target:
        found = target.keys.list()
    if json_output:
        print_json([record.to_dict() for record in found])
        return
    if not found:
        console.print("no keys yet; make one with selfsim keys create COLLECTION --role read", highlight=False)
        return
    table = Table(title=f"keys of {safe(collection)}")
    for column in ("id", "role", "name", "created", "revoked"):
        table.add_column(column)
    for record in found:
        table.add_row(safe(record.key_id), safe(record.role), safe(record.name), _when(record.created_at),
                      _when(record.revoked_at))
    console.print(table)


@app.command()
def revoke(
    collection: CollectionArg,
    key_id: Annotated[str, typer.Argument(help="The key's id, as `selfsim keys list` shows it.")],
) -> None:
    """Revoke a key of COLLECTION: from now on it opens nothing (a running server stops accepting it at once)."""
    with Collection.open(collection) as target:
        record = target.keys.revoke(key_id)
    console.print(f"revoked the {safe(record.role)} key {safe(record.key_id)}", highlight=False)
