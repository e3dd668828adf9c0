"""Background jobs: where one stands, and adapt (the one job with no other home: it retrains the encoder)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from selfsim.app import AdaptConfig
from selfsim.errors import NotFoundError
from selfsim.http.auth import Access, KeyHolder, any_collection, require
from selfsim.http.jobs import Progress
from selfsim.http.models import ERRORS, JobStarted
from selfsim.http.routes.common import COLLECTION, jobs_of

router = APIRouter(prefix="/api", tags=["jobs"], responses=ERRORS)


class AdaptIn(BaseModel):
    """Adapt the encoder without labels: ``objective`` is crops, simcse, denoise or triplet."""

    objective: str = "crops"
    epochs: float = 1.0
    max_steps: int | None = None


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
    served = access.served

    def work(progress: Progress) -> dict[str, Any]:
        def report(stage: str, done: int, total: int | None) -> None:
            # training is most of the time; re-embedding the rest
            share = done / total if total else 0.0
            progress(0.8 * share if stage == "training" else 0.8 + 0.2 * share)

        with served.open_private() as private:
            result = private.adapt(config, report)
        served.reopen()
        return result.to_dict()

    return {"job": jobs_of(request).submit("adapt", served, work).id}
