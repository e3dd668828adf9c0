"""Background jobs: where one stands, and adapt (the one job with no other home: it retrains the encoder)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from selfsim.app import AdaptConfig
from selfsim.errors import ConfigError, NotFoundError
from selfsim.http.auth import Access, KeyHolder, any_collection, require
from selfsim.http.jobs import Progress
from selfsim.http.models import ERRORS, JobStarted
from selfsim.http.routes.common import COLLECTION, jobs_of

router = APIRouter(prefix="/api", tags=["jobs"], responses=ERRORS)
# Where each stage of an adapt job lies on the job's progress (0 to 1): training is most of the time.
_STAGES: dict[str, tuple[float, float]] = {"teacher": (0.0, 0.15), "training": (0.15, 0.7),
                                           "validating": (0.7, 0.8), "embedding": (0.8, 1.0)}


class AdaptIn(BaseModel):
    """Adapt the encoder without labels: ``objective`` is teacher (the default: the collection's hybrid search
    teaches over ``queries``, a query log with no judgements, or over pseudo-queries made from the items, and
    the new model is kept only if it wins a label-free validation), crops, simcse, denoise or triplet."""

    objective: str = AdaptConfig.objective
    epochs: float = 1.0
    max_steps: int | None = None
    queries: list[str] | None = None


class JobOut(BaseModel):
    """A background job: its state, progress (0 to 1), and its result or error once finished."""

    id: str
    kind: str
    collection: str
    state: str
    progress: float
    result: dict[str, Any] | None = None
    error: str | None = None


@router.get("/jobs/{job}", response_model=JobOut)
def get_job(job: str, request: Request, holder: KeyHolder = Depends(any_collection)) -> dict[str, Any]:
    """Where a job stands; the key must open the job's collection (a job of another collection is a 404)."""
    found = jobs_of(request).get(job)
    if found.collection not in holder.names():
        raise NotFoundError(f"no job with id {job!r} for the collections this key opens; check the id.")
    return found.to_dict()


@router.post(f"{COLLECTION.removeprefix('/api')}/adapt", response_model=JobStarted, status_code=202)
def adapt(body: AdaptIn, request: Request, access: Access = Depends(require("admin"))) -> dict[str, str]:
    """Adapt the encoder to the collection's texts, re-embed every item and switch to the new model (a job).

    Search keeps answering from the old vectors until the switch; the served handle is then reopened.
    """
    config = AdaptConfig(objective=body.objective, epochs=body.epochs, max_steps=body.max_steps)
    if body.queries is not None and config.objective != "teacher":
        raise ConfigError("a query log teaches only the teacher objective; drop queries or use "
                          "objective=teacher.")
    queries = [query for query in body.queries or [] if query.strip()] or None
    served = access.served

    def work(progress: Progress) -> dict[str, Any]:
        reached = [0.0]

        def report(stage: str, done: int, total: int | None) -> None:
            start, end = _STAGES.get(stage, (0.0, 1.0))
            share = done / total if total else 0.0
            reached[0] = max(reached[0], start + (end - start) * share)  # never moves backwards
            progress(reached[0])

        with served.open_private() as private:
            result = private.adapt(config, report, queries=queries)
        served.reopen()
        return result.to_dict()

    return {"job": jobs_of(request).submit("adapt", served, work).id}
