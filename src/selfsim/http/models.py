"""The JSON shapes several routes share (each route module declares the ones only it uses).

They exist so the generated OpenAPI documents every answer; the contract is
``notes/http-contract.md`` (and ``docs/http.md``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error: one sentence that says what to do."""

    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in ((400, "Bad input (not JSON, a setting that cannot work)"),
                                (401, "No API key, or one that does not open this collection"),
                                (403, "The key's role is too low"),
                                (404, "Unknown collection, item, topic or job"),
                                (409, "Conflict (an id that already exists)"),
                                (413, "Body too large"),
                                (422, "Invalid field or a limit exceeded"))}


class ItemOut(BaseModel):
    """One item."""

    id: str
    text: str
    metadata: dict[str, Any]


class PageOut(BaseModel):
    """A page of items and how many pass the filter in all."""

    items: list[ItemOut]
    offset: int
    limit: int
    total: int


class SignalOut(BaseModel):
    """One signal's rank and score behind a hit."""

    rank: int
    score: float


class HitOut(BaseModel):
    """One search result or neighbour: the item, its score and the passage (chunk, character span) that matched."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any]
    chunk: int
    span: list[int] = Field(description="[start, end] of the matching chunk inside text")
    signals: dict[str, SignalOut] = Field(default_factory=dict)


class HitsOut(BaseModel):
    """Neighbours of an item."""

    hits: list[HitOut]


class JobStarted(BaseModel):
    """A background job was queued; poll ``GET /api/jobs/{job}``."""

    job: str


class StoredOut(BaseModel):
    """How many labels or events were stored."""

    stored: int


class RecommendedOut(BaseModel):
    """One recommended (or similar) item with its text when it is an item of the collection."""

    item: str
    score: float
    text: str | None = None


class RecommendedListOut(BaseModel):
    """Recommended or similar items, best first."""

    items: list[RecommendedOut]


def item_out(item: Any) -> dict[str, Any]:
    """The contract's item shape from a stored item."""
    return {"id": item.id, "text": item.text, "metadata": item.metadata}
