"""Reading a collection a page at a time, and counting items by the value of a metadata field.

These serve people looking around a collection (the web page, ``selfsim info``): a page of items
under a filter with the total that pass it, and the groups a field makes (topics written as
``cluster`` metadata, duplicate groups) with their sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from selfsim.errors import InputError
from selfsim.store.database import Database, StoredItem, stored_item
from selfsim.store.filters import Filter, compile_filter, field_path

MAX_PAGE = 10_000


@dataclass(frozen=True)
class ItemPage:
    """Items ``offset`` to ``offset + limit`` (in the order first added) of the ``total`` passing a filter."""

    items: list[StoredItem]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class FieldGroup:
    """The items whose metadata ``field`` holds ``value``: how many, and one item's ``detail`` field."""

    value: Any
    size: int
    detail: Any


def page_items(database: Database, filter: Filter | None = None, offset: int = 0, limit: int = 50) -> ItemPage:
    """One page of items passing ``filter``, read with their total in one snapshot."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InputError(f"offset must be a whole number of 0 or more, not {offset!r}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be a whole number from 1 to {MAX_PAGE:,}, not {limit!r}.")
    where, params = compile_filter(filter)
    with database.snapshot() as connection:
        total = int(connection.execute(f"SELECT COUNT(*) FROM items i WHERE {where}", params).fetchone()[0])
        rows = connection.execute(
            "SELECT id, text, metadata, created_at, updated_at, key FROM items i "
            f"WHERE {where} ORDER BY key LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    return ItemPage([stored_item(row) for row in rows], total, offset, limit)


def field_groups(database: Database, field: str, detail: str | None = None) -> list[FieldGroup]:
    """Every value of metadata ``field`` with the number of items holding it, largest group first
    (items without the field are left out); ``detail`` names a field read from one item of each group
    (for topics, the ``cluster_keywords`` every item of a cluster shares)."""
    path = field_path(field)
    detail_sql = "NULL" if detail is None else "MAX(json_extract(i.metadata, ?))"
    params: list[Any] = [] if detail is None else [field_path(detail)]
    with database.snapshot() as connection:
        rows = connection.execute(
            f"SELECT json_extract(i.metadata, ?) AS value, json_type(i.metadata, ?) AS kind, COUNT(*), {detail_sql} "
            "FROM items i WHERE value IS NOT NULL GROUP BY value, kind ORDER BY COUNT(*) DESC, value",
            [path, path, *params]).fetchall()
    groups = []
    for value, kind, size, extra in rows:
        if kind in ("object", "array"):
            value = json.loads(value)
        if isinstance(extra, str) and extra[:1] in "[{":
            extra = json.loads(extra)
        groups.append(FieldGroup(value, int(size), extra))
    return groups


def field_values(database: Database, field: str) -> dict[str, Any]:
    """Each item's value of metadata ``field`` by item id (items without the field left out), read without
    the items' texts."""
    path = field_path(field)
    with database.snapshot() as connection:
        rows = connection.execute(
            "SELECT i.id, json_extract(i.metadata, ?), json_type(i.metadata, ?) FROM items i "
            "WHERE json_type(i.metadata, ?) IS NOT NULL", [path, path, path]).fetchall()
    return {item_id: _decoded(value, kind) for item_id, value, kind in rows}


def _decoded(value: Any, kind: str) -> Any:
    """A value ``json_extract`` gave back as the metadata holds it (SQLite hands JSON true/false over as 1/0 and
    objects and arrays as text)."""
    if kind in ("true", "false"):
        return kind == "true"
    return json.loads(value) if kind in ("object", "array") else value
