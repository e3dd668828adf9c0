"""Interactions and the sequence recommender: store events, train (a job), recommend, similar items."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from selfsim.app import Interaction, RecommendConfig
from selfsim.errors import InputError
from selfsim.http.auth import Access, require
from selfsim.http.jobs import Progress
from selfsim.http.models import ERRORS, JobStarted, RecommendedListOut, StoredOut
from selfsim.http.routes.common import COLLECTION, jobs_of, limits_of
from selfsim.http.state import ServedCollection

router = APIRouter(prefix=COLLECTION, tags=["recommend"], responses=ERRORS)


class EventIn(BaseModel):
    """``user`` touched ``item`` at ``timestamp`` (seconds; null: now, in the order given)."""

    user: str | int
    item: str | int
    timestamp: float | None = None


class EventsIn(BaseModel):
    """Interaction events."""

    events: list[EventIn]


class RecommendIn(BaseModel):
    """A known ``user``, or an anonymous ``history`` of item ids (oldest first)."""

    user: str | int | None = None
    history: list[str | int] | None = None
    k: int = 10


@router.post("/interactions", response_model=StoredOut)
def put_interactions(body: EventsIn, request: Request, access: Access = Depends(require("write"))) -> dict[str, int]:
    """Store events in one transaction; returns how many were new (an exact repeat is ignored)."""
    limits_of(request).batch(body.events, "events")
    now = time.time()
    events = [Interaction(str(e.user), str(e.item), now + position * 1e-6 if e.timestamp is None else e.timestamp)
              for position, e in enumerate(body.events)]
    with access.served.writing() as collection:
        return {"stored": collection.interactions.put(events)}


class TrainIn(BaseModel):
    """Training settings; ``epochs`` (default 30) bounds the run."""

    epochs: int | None = None


@router.post("/recommender/train", response_model=JobStarted, status_code=202)
def train(request: Request, body: TrainIn | None = None,
          access: Access = Depends(require("write"))) -> dict[str, str]:
    """Train the sequence recommender on the stored interactions, as a background job."""
    served = access.served
    config = RecommendConfig()
    if body is not None and body.epochs is not None:
        if not 1 <= body.epochs <= 1000:
            raise InputError(f"epochs must be between 1 and 1000, not {body.epochs}.")
        config = dataclasses.replace(config, training=dataclasses.replace(config.training, epochs=body.epochs))

    def work(progress: Progress) -> dict[str, Any]:
        with served.open_private() as private:
            recommender = private.train_recommender(config)
        return {"items": len(recommender.items)}

    return {"job": jobs_of(request).submit("recommender", served, work).id}


def _with_text(served: ServedCollection, found: list[Any]) -> dict[str, Any]:
    items = []
    with served.reading() as collection:
        for recommendation in found:
            text = None
            if recommendation.item in collection:
                text = collection.get(recommendation.item).text
            items.append({"item": recommendation.item, "score": recommendation.score, "text": text})
    return {"items": items}


@router.post("/recommend", response_model=RecommendedListOut)
def recommend(body: RecommendIn, request: Request, access: Access = Depends(require("read"))) -> dict[str, Any]:
    """The next ``k`` items for a user or a history, best first, with their text when they are items here."""
    limits = limits_of(request)
    limits.k(body.k)
    if (body.user is None) == (body.history is None):
        raise InputError("give either 'user' (a known user) or 'history' (item ids, oldest first), not both "
                         "and not neither.")
    if body.history is not None:
        limits.batch(body.history, "history items")
    history = None if body.history is None else [str(i) for i in body.history]
    user = None if body.user is None else str(body.user)
    with access.served.reading() as collection:
        found = collection.recommend(user=user, history=history, k=body.k)
    return _with_text(access.served, found)


@router.get("/items/{item_id}/similar", response_model=RecommendedListOut)
def similar(item_id: str, request: Request, access: Access = Depends(require("read")), k: int = 10) -> dict[str, Any]:
    """The ``k`` items the recommender places closest to this one (by what users did, not by text)."""
    limits_of(request).k(k)
    with access.served.reading() as collection:
        found = collection.similar_items(item_id, k)
    return _with_text(access.served, found)
