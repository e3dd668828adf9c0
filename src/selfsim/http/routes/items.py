"""Items: a page of them (under a filter), one item, its neighbours, adding and deleting."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from selfsim.http.auth import Access, require
from selfsim.http.models import ERRORS, HitsOut, ItemOut, PageOut, item_out
from selfsim.http.routes.common import COLLECTION, limits_of, read_filter

router = APIRouter(prefix=COLLECTION, tags=["items"], responses=ERRORS)

FILTER_HELP = ("Metadata condition in the CLI's syntax, repeatable: kind=function, year>=2020, area in a,b, "
               "tags has x, author exists.")


class NewItem(BaseModel):
    """An item to store: its id, its text and any metadata."""

    id: str | int
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class AddIn(BaseModel):
    """Items to add; with ``replace`` (the default) an existing id is replaced, without it a 409."""

    items: list[NewItem]
    replace: bool = True


class AddOut(BaseModel):
    """What was written: distinct items; how many records replaced an item (stored before, or earlier in the same
    request); the store generation after the write (None when nothing was written)."""

    written: int
    replaced: int
    generation: int | None


class DeleteIn(BaseModel):
    """Ids to delete."""

    ids: list[str | int]


class DeleteOut(BaseModel):
    """The ids deleted and the ids that were not there."""

    deleted: list[str]
    missing: list[str]


@router.get("/items", response_model=PageOut)
def page(request: Request, access: Access = Depends(require("read")), offset: int = 0, limit: int = 50,
         filter: list[str] | None = Query(None, description=FILTER_HELP)) -> dict[str, Any]:
    """Items ``offset`` to ``offset + limit`` passing every filter, in the order they were added, and their total."""
    limits_of(request).page(offset, limit)
    spec = read_filter(request, filter)
    with access.served.reading() as collection:
        found = collection.page(offset=offset, limit=limit, filter=spec)
    return {"items": [item_out(item) for item in found.items], "offset": offset, "limit": limit,
            "total": found.total}


@router.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: str, access: Access = Depends(require("read"))) -> dict[str, Any]:
    """One item; 404 when there is no item with this id."""
    with access.served.reading() as collection:
        return item_out(collection.get(item_id))


@router.get("/items/{item_id}/neighbours", response_model=HitsOut)
def neighbours(item_id: str, request: Request, access: Access = Depends(require("read")),
               k: int = 10) -> dict[str, Any]:
    """The ``k`` items nearest this one by meaning (itself left out), best first."""
    limits_of(request).k(k)
    with access.served.reading() as collection:
        hits = collection.neighbours(item_id, k=k)
    return {"hits": [hit.to_dict() for hit in hits]}


@router.post("/items", response_model=AddOut)
def add(body: AddIn, request: Request, access: Access = Depends(require("write"))) -> dict[str, Any]:
    """Add (``replace: false``: 409 for an id that exists, nothing written) or upsert items, embedded here."""
    limits_of(request).batch(body.items, "items")
    records = [{"id": item.id, "text": item.text, "metadata": item.metadata} for item in body.items]
    with access.served.writing() as collection:
        if not body.replace:
            report = collection.add(records)
            return {"written": report.items, "replaced": 0, "generation": report.generation}
        stored = sum(1 for item_id in dict.fromkeys(str(item.id) for item in body.items) if item_id in collection)
        report = collection.upsert(records)
    return {"written": report.items, "replaced": stored + report.replaced, "generation": report.generation}


@router.post("/items/delete", response_model=DeleteOut)
def delete(body: DeleteIn, request: Request, access: Access = Depends(require("write"))) -> dict[str, Any]:
    """Delete items by id in one transaction; ids that were not there are listed as missing."""
    limits_of(request).batch(body.ids, "ids")
    ids = list(dict.fromkeys(str(i) for i in body.ids))
    with access.served.writing() as collection:
        missing = collection.delete(ids)
    gone = set(missing)
    return {"deleted": [i for i in ids if i not in gone], "missing": missing}
