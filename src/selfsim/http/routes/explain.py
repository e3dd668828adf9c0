"""Explanations: how each query word, sentence or history item made a search, recommendation or class.

Each answer is the explanation's dict (Shapley values per feature, with occlusion beside them) plus
``html``: for each side (``query``, ``item``, ``history``...) an escaped HTML fragment with every
feature highlighted by the sign and strength of its value.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from selfsim.app import explanation_html
from selfsim.errors import InputError
from selfsim.http.auth import Access, require
from selfsim.http.models import ERRORS
from selfsim.http.routes.common import COLLECTION, limits_of

router = APIRouter(prefix=f"{COLLECTION}/explain", tags=["explain"], responses=ERRORS)


class ExplainSearchIn(BaseModel):
    """Why ``item_id`` matched ``query``."""

    query: str
    item_id: str | int


class ExplainRecommendIn(BaseModel):
    """Why ``item_id`` was recommended to a known ``user`` or after an anonymous ``history``."""

    item_id: str | int
    user: str | int | None = None
    history: list[str | int] | None = None


class ExplainClassifyIn(BaseModel):
    """Why the ``task`` classifier gives ``item_id`` its class."""

    item_id: str | int
    task: str


class ExplanationOut(BaseModel):
    """The explanation (features with Shapley values and occlusion, the scores, notes) and its HTML fragments."""

    model_config = ConfigDict(extra="allow")
    html: dict[str, str]


def _answer(explanation: Any) -> dict[str, Any]:
    return {**explanation.to_dict(), "html": explanation_html(explanation)}


@router.post("/search", response_model=ExplanationOut)
def explain_search(body: ExplainSearchIn, request: Request,
                   access: Access = Depends(require("read"))) -> dict[str, Any]:
    """How each word of the query and each sentence of the item made their similarity."""
    limits_of(request).query(body.query)
    with access.served.reading() as collection:
        return _answer(collection.explain_search(body.query, str(body.item_id)))


@router.post("/recommend", response_model=ExplanationOut)
def explain_recommend(body: ExplainRecommendIn, request: Request,
                      access: Access = Depends(require("read"))) -> dict[str, Any]:
    """How each item of the history drove the recommendation's score."""
    if (body.user is None) == (body.history is None):
        raise InputError("give either 'user' (a known user) or 'history' (item ids, oldest first), not both "
                         "and not neither.")
    if body.history is not None:
        limits_of(request).batch(body.history, "history items")
    history = None if body.history is None else [str(i) for i in body.history]
    user = None if body.user is None else str(body.user)
    with access.served.reading() as collection:
        return _answer(collection.explain_recommend(str(body.item_id), user=user, history=history))


@router.post("/classify", response_model=ExplanationOut)
def explain_classify(body: ExplainClassifyIn, access: Access = Depends(require("read"))) -> dict[str, Any]:
    """How each sentence (or word) of the item moved the classifier toward its class."""
    with access.served.reading() as collection:
        return _answer(collection.explain_classify(str(body.item_id), body.task))
