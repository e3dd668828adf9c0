"""Duplicates, topics (fitted as a background job) and the 2-D map of the collection."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from selfsim.app import DuplicatesConfig, TopicConfig
from selfsim.errors import NotFoundError
from selfsim.http.auth import Access, require
from selfsim.http.jobs import Progress
from selfsim.http.models import ERRORS, JobStarted, PageOut, item_out
from selfsim.http.routes.common import COLLECTION, jobs_of, limits_of, read_filter

router = APIRouter(prefix=COLLECTION, tags=["duplicates and topics"], responses=ERRORS)


class DuplicatesIn(BaseModel):
    """Find duplicate groups; ``threshold`` is the cosine at or above which two items are duplicates
    (default 0.9); ``write`` (needs a write key) stores ``duplicate_group`` and ``duplicate_group_keep`` metadata."""

    threshold: float | None = None
    filter: list[str] = Field(default_factory=list)
    write: bool = False


class DuplicateMember(BaseModel):
    """One member of a group and its cosine with the group's centre."""

    id: str
    text: str
    score: float | None


class DuplicateGroupOut(BaseModel):
    """A group of duplicates, the member to keep first."""

    group: int
    keep: str
    items: list[DuplicateMember]


class DuplicatesOut(BaseModel):
    """Every group, largest first."""

    groups: list[DuplicateGroupOut]


class TopicsIn(BaseModel):
    """Fit topics over the items passing ``filter``; ``min_size`` is the smallest cluster HDBSCAN keeps."""

    filter: list[str] = Field(default_factory=list)
    min_size: int | None = None


class TopicOut(BaseModel):
    """A topic (-1 is noise), its size and its keywords."""

    topic: int | str
    size: int
    keywords: list[str]


class TopicsOut(BaseModel):
    """The topics written by the last fit, largest first (empty when never fitted)."""

    topics: list[TopicOut]


class MapPoint(BaseModel):
    """An item's place on the map, in [0, 1]."""

    id: str
    x: float
    y: float
    topic: Any = None


class MapTopic(BaseModel):
    """A topic's centre on the map and its keywords."""

    model_config = {"extra": "allow"}
    topic: Any = None
    x: float
    y: float
    keywords: list[str] = Field(default_factory=list)


class MapOut(BaseModel):
    """Map points (at most ``limit``, spread evenly), topic centres and the number of items in all."""

    points: list[MapPoint]
    topics: list[MapTopic]
    total: int


@router.post("/duplicates", response_model=DuplicatesOut)
def duplicates(body: DuplicatesIn, request: Request, access: Access = Depends(require("read"))) -> dict[str, Any]:
    """Duplicate groups among the items passing the filter (exact and semantic duplicates)."""
    if body.write:
        access.need("write", "writing duplicate groups")
    spec = read_filter(request, body.filter)
    config = DuplicatesConfig() if body.threshold is None else DuplicatesConfig(threshold=body.threshold)
    locked = access.served.writing if body.write else access.served.reading
    with locked() as collection:
        finder = collection.duplicates(config, spec, write=body.write)
        texts = {m: collection.get(m).text for group in finder.groups_ for m in group.members}
    groups = [{"group": group.group, "keep": group.keep,
               "items": [{"id": m, "text": texts[m], "score": group.similarity.get(m)} for m in group.members]}
              for group in finder.groups_]
    return {"groups": groups}


@router.post("/topics", response_model=JobStarted, status_code=202)
def fit_topics(body: TopicsIn, request: Request, access: Access = Depends(require("write"))) -> dict[str, str]:
    """Fit topics as a background job; it writes ``cluster`` and ``cluster_keywords`` metadata to every item."""
    spec = read_filter(request, body.filter)
    config = TopicConfig() if body.min_size is None else TopicConfig(min_cluster_size=body.min_size)
    served = access.served

    def work(progress: Progress) -> dict[str, Any]:
        with served.open_private() as collection:
            progress(0.1)
            return collection.topics(config, spec, write=True).to_dict()

    return {"job": jobs_of(request).submit("topics", served, work).id}


@router.get("/topics", response_model=TopicsOut)
def topic_list(access: Access = Depends(require("read")),
               field: str = Query("cluster", description="The metadata field the topics were written to.")
               ) -> dict[str, Any]:
    """The topics of the last fit, largest first, with their keywords; empty when topics were never fitted."""
    with access.served.reading() as collection:
        return {"topics": [topic.to_dict() for topic in collection.topic_list(field)]}


@router.get("/topics/{topic}/items", response_model=PageOut)
def topic_items(topic: int, request: Request, access: Access = Depends(require("read")), offset: int = 0,
                limit: int = 50, field: str = "cluster") -> dict[str, Any]:
    """A page of the items of one topic (-1: the items no topic took)."""
    limits_of(request).page(offset, limit)
    with access.served.reading() as collection:
        found = collection.page(offset=offset, limit=limit, filter={field: topic})
    if not found.total:
        raise NotFoundError(f"no item is in topic {topic} (field {field!r}); list the topics with GET "
                            f"/api/collections/{access.served.name}/topics, or fit them first.")
    return {"items": [item_out(item) for item in found.items], "offset": offset, "limit": limit,
            "total": found.total}


@router.get("/map", response_model=MapOut)
def map_points(request: Request, access: Access = Depends(require("read")), field: str = "cluster",
               limit: int = 20000,
               method: Literal["auto", "umap", "pca"] | None = Query(
                   None, description="auto: UMAP when installed (its first map takes a while), else PCA; "
                                     "default: the server's setting (auto unless configured)")
               ) -> dict[str, Any]:
    """2-D coordinates of the items (at most ``limit``) with their topic, and each topic's centre; computed once
    per change of the collection."""
    limits_of(request).map_points(limit)
    with access.served.reading() as collection:
        return collection.map_points(field=field, limit=limit,
                                     method=method or request.app.state.config.map_method).to_dict()
