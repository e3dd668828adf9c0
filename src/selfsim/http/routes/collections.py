"""``/api/health``, the list of collections a key opens, and one collection's summary."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from selfsim.http.auth import Access, KeyHolder, any_collection, require
from selfsim.http.models import ERRORS
from selfsim.http.routes.common import COLLECTION
from selfsim.version import __version__

router = APIRouter(prefix="/api", tags=["collections"], responses=ERRORS)


class HealthOut(BaseModel):
    """The service answers."""

    status: str
    version: str


class CollectionOut(BaseModel):
    """A collection the key opens, its size and the key's role there."""

    name: str
    items: int
    role: str


class CollectionsOut(BaseModel):
    """Every collection the key opens."""

    collections: list[CollectionOut]


class InfoOut(BaseModel):
    """``Collection.info()``: counts, encoder, index, generation and whether the index agrees, plus the name."""

    model_config = ConfigDict(extra="allow")
    name: str
    items: int
    chunks: int
    encoder: str
    generation: int


@router.get("/health", response_model=HealthOut)
def health() -> dict[str, str]:
    """Whether the service runs (no key needed)."""
    return {"status": "ok", "version": __version__}


@router.get("/collections", response_model=CollectionsOut)
def list_collections(holder: KeyHolder = Depends(any_collection)) -> dict[str, Any]:
    """The collections the presented key opens, with their item counts and the key's role in each."""
    found = []
    for access in sorted(holder.access, key=lambda a: a.served.name):
        with access.served.reading() as collection:
            found.append({"name": access.served.name, "items": len(collection), "role": access.key.role})
    return {"collections": found}


@router.get(COLLECTION.removeprefix("/api"), response_model=InfoOut)
def info(access: Access = Depends(require("read"))) -> dict[str, Any]:
    """The collection's summary (``selfsim info``) and its name."""
    with access.served.reading() as collection:
        return {**collection.info(), "name": access.served.name}
