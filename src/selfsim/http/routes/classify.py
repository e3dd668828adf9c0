"""Labels and classifiers: store labels, fit a label set's classifier (a job), predict, suggest what to label."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from selfsim.app import Label
from selfsim.http.auth import Access, require
from selfsim.http.jobs import Progress
from selfsim.http.models import ERRORS, JobStarted, StoredOut
from selfsim.http.routes.common import COLLECTION, jobs_of, limits_of

router = APIRouter(prefix=COLLECTION, tags=["classify"], responses=ERRORS)


class LabelIn(BaseModel):
    """One item's class, given by a person."""

    id: str | int
    label: str


class LabelsIn(BaseModel):
    """Labels of one label set (``task``); each replaces that item's earlier human label in the set."""

    task: str
    labels: list[LabelIn]


class PredictIn(BaseModel):
    """Texts to classify, and/or stored items by id (their whole text, however long); answers come in that
    order: texts first, then items."""

    texts: list[str] = []
    ids: list[str | int] = []


class PredictionOut(BaseModel):
    """The predicted class, its probability and every class's probability."""

    model_config = ConfigDict(extra="allow")
    label: str
    probability: float
    probabilities: dict[str, float] = {}


class PredictionsOut(BaseModel):
    """One prediction per text, in order."""

    predictions: list[PredictionOut]


class SuggestionOut(BaseModel):
    """An unlabelled item worth labelling: its text, the classifier's margin and guess."""

    model_config = ConfigDict(extra="allow")
    id: str
    text: str


class SuggestionsOut(BaseModel):
    """The items to label next, most useful first."""

    items: list[SuggestionOut]


@router.post("/labels", response_model=StoredOut)
def put_labels(body: LabelsIn, request: Request, access: Access = Depends(require("write"))) -> dict[str, int]:
    """Store human labels for ``task`` in one transaction (every id must be an item of the collection)."""
    limits_of(request).batch(body.labels, "labels")
    labels = [Label(str(label.id), label.label) for label in body.labels]
    with access.served.writing() as collection:
        return {"stored": collection.labels.put(body.task, labels)}


@router.post("/classifiers/{task}/fit", response_model=JobStarted, status_code=202)
def fit(task: str, request: Request, access: Access = Depends(require("write"))) -> dict[str, str]:
    """Fit the classifier of label set ``task`` as a background job (predictions are written back as labels)."""
    served = access.served
    with served.reading() as collection:
        collection.labels.info(task)  # an unknown label set is a 404 now, not a failed job later

    def work(progress: Progress) -> dict[str, Any]:
        with served.open_private() as private:
            return private.classifier(task).fit().to_dict()

    return {"job": jobs_of(request).submit("classifier", served, work).id}


@router.post("/classifiers/{task}/predict", response_model=PredictionsOut)
def predict(task: str, body: PredictIn, request: Request,
            access: Access = Depends(require("read"))) -> dict[str, Any]:
    """The class of each text by the fitted classifier of ``task``."""
    limits = limits_of(request)
    limits.batch([*body.texts, *body.ids], "texts and ids")
    for text in body.texts:
        limits.query(text, "text")
    with access.served.reading() as collection:
        texts = [*body.texts, *(collection.get(str(item_id)).text for item_id in body.ids)]
        found = collection.classifier(task).predict(texts)
    return {"predictions": [{**row, "probability": row.get("confidence")} for row in found]}


@router.get("/classifiers/{task}/suggest", response_model=SuggestionsOut)
def suggest(task: str, request: Request, access: Access = Depends(require("read")), n: int = 20) -> dict[str, Any]:
    """The ``n`` unlabelled items whose labels would teach the classifier the most."""
    limits_of(request).k(n, "n")
    with access.served.reading() as collection:
        return {"items": collection.classifier(task).suggest(n)}
