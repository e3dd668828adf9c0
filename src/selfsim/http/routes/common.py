"""What the route modules share: the service's limits, its jobs, and filters read under the limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from selfsim.app import parse_filter
from selfsim.http.jobs import JobRunner
from selfsim.http.limits import Limits

COLLECTION = "/api/collections/{collection}"


def limits_of(request: Request) -> Limits:
    """The running service's limits."""
    return request.app.state.limits


def jobs_of(request: Request) -> JobRunner:
    """The running service's background jobs."""
    return request.app.state.jobs


def read_filter(request: Request, expressions: list[str] | None) -> Mapping[str, Any] | None:
    """A filter from CLI-style expressions (``kind=function``, ``year>=2020``), at most the service's limit of them;
    None for none."""
    return parse_filter(limits_of(request).filters(expressions)) if expressions else None
