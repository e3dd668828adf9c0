"""Every error the service answers is ``{"error": "<one sentence>"}`` with a status that says its kind.

- :class:`~selfsim.errors.InputError` 422, :class:`~selfsim.errors.NotFoundError` 404,
  :class:`~selfsim.errors.ConfigError` 400, :class:`~selfsim.errors.ConflictError` 409;
- a body that is not JSON 400, a field that fails validation 422 (one sentence naming it);
- anything else 500 with a generic sentence: the traceback goes to the server log only.

Messages from the facade name the collection's directory; the answer names the collection instead,
so the server's file layout stays on the server.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from selfsim.errors import ConfigError, ConflictError, InputError, NotFoundError, SelfsimError

log = logging.getLogger("selfsim.http")

STATUS_OF: tuple[tuple[type[SelfsimError], int], ...] = (
    (InputError, 422), (NotFoundError, 404), (ConfigError, 400), (ConflictError, 409))

# Starlette's own details ("Not Found") are phrases, not sentences that say what to do.
_DEFAULT_DETAILS = {
    404: "there is no such endpoint; see /docs for the API.",
    405: "this endpoint does not take that method; see /docs for the API.",
}

INTERNAL = "the server failed on this request; it is in the server's log, so report it with the time it happened."


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def status_of(error: SelfsimError) -> int:
    """The HTTP status for a user error's kind (400 for a kind this table does not know)."""
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 400


def _hide_paths(request: Request, message: str) -> str:
    """The message with each served directory named by its collection: inside a `command` the name itself
    (the command still reads right), elsewhere "the collection 'name'"."""
    registry = getattr(request.app.state, "registry", None)
    if registry is None:
        return message
    parts = message.split("`")
    for served in registry:
        for position, part in enumerate(parts):
            inside = position % 2 == 1 and position < len(parts) - 1
            parts[position] = part.replace(str(served.path), served.name if inside
                                           else f"the collection {served.name!r}")
    return "`".join(parts)


def validation_sentence(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """One status and sentence for pydantic's validation errors (the first error; a count of the rest)."""
    if not errors:
        return 422, "the request is not valid; see /docs for the fields each endpoint takes."
    first = errors[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return 400, "the request body is not valid JSON; send one JSON object (and Content-Type: application/json)."
    location = [str(part) for part in first.get("loc", ())]
    if location[:1] and location[0] in ("body", "query", "path", "header", "cookie"):
        location = location[1:]  # where the field was sent, not part of its name
    field = ".".join(location)
    context = first.get("ctx") or {}
    if kind == "missing":
        problem = f"the field {field!r} is required" if field else "the request needs a JSON body"
    elif kind in ("less_than_equal", "less_than", "too_long") and field:
        bound = context.get("le", context.get("lt", context.get("max_length")))
        problem = f"{field} must be at most {bound}"
    elif kind in ("greater_than_equal", "greater_than", "too_short") and field:
        bound = context.get("ge", context.get("gt", context.get("min_length")))
        problem = f"{field} must be at least {bound}"
    elif kind.endswith("_type") and not field:
        problem = "the request body must be a JSON object"
    elif kind == "extra_forbidden":
        problem = f"the field {field!r} is not one this endpoint takes"
    else:
        message = str(first.get("msg", "is not valid")).rstrip(".")
        problem = f"{field}: {message[:1].lower()}{message[1:]}" if field else message
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return 422, f"{problem}{more}; see /docs for the fields this endpoint takes."


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the service answers one JSON sentence."""

    @app.exception_handler(SelfsimError)
    async def user_error(request: Request, error: SelfsimError) -> JSONResponse:
        return error_response(status_of(error), _hide_paths(request, str(error)))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        status, message = validation_sentence(list(error.errors()))
        return error_response(status, message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else ""
        if not detail or detail == _phrase(error.status_code):
            detail = _DEFAULT_DETAILS.get(error.status_code, f"the request failed ({error.status_code}).")
        return error_response(error.status_code, detail, getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(500, INTERNAL)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
