"""Search by meaning (dense), by words (keyword) or both (hybrid), under metadata filters."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from selfsim.config import SearchConfig
from selfsim.http.auth import Access, require
from selfsim.http.models import ERRORS, HitOut
from selfsim.http.routes.common import COLLECTION, limits_of, read_filter

router = APIRouter(prefix=COLLECTION, tags=["search"], responses=ERRORS)


class SearchIn(BaseModel):
    """A query, how many results, the mode and filters (CLI syntax: ``kind=function``, ``year>=2020``);
    hybrid fusion, and the approximate index's search-time knobs (unset: the index's defaults)."""

    query: str
    k: int = 10
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"
    filter: list[str] = Field(default_factory=list)
    fusion: Literal["rrf", "weighted"] = "rrf"
    dense_weight: float = Field(0.5, ge=0.0, le=1.0)
    ef_search: int | None = Field(None, ge=1, description="HNSW: candidates kept while searching the graph.")
    nprobe: int | None = Field(None, ge=1, description="IVF: inverted lists searched.")


class SearchOut(BaseModel):
    """The hits, best first, and how long the search took."""

    hits: list[HitOut]
    took_ms: float


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, request: Request, access: Access = Depends(require("read"))) -> dict[str, Any]:
    """The ``k`` best items for the query."""
    limits = limits_of(request)
    limits.query(body.query)
    limits.k(body.k)
    spec = read_filter(request, body.filter)
    started = time.perf_counter()
    with access.served.reading() as collection:
        config = SearchConfig(mode=body.mode, fusion=body.fusion, dense_weight=body.dense_weight,
                              ef_search=body.ef_search, nprobe=body.nprobe)
        hits = collection.search(body.query, k=body.k, mode=body.mode, filter=spec, config=config)
    took = (time.perf_counter() - started) * 1000
    return {"hits": [hit.to_dict() for hit in hits], "took_ms": round(took, 2)}
