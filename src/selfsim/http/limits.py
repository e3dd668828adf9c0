"""The service's limits (:class:`~selfsim.config.ServiceConfig`): a body too large is 413, a batch, ``k``,
query, filter list or page past its limit 422, each with a sentence that names the limit.

The limits are checked in the handlers rather than declared on the pydantic models, so that a
service started with other limits enforces those.
"""

from __future__ import annotations

from collections.abc import Sized

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfsim.config import ServiceConfig
from selfsim.http.errors import error_response


class LimitError(HTTPException):
    """A request past one of the service's limits."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(status_code=status, detail=message)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 before the app sees it.

    A ``Content-Length`` over the limit is refused at once; a body without one (chunked) is counted
    as it arrives and refused as soon as it passes the limit, so neither can make the server buffer
    more than the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return (f"the request body is larger than the service's limit of {self.max_bytes:,} bytes; "
                "send fewer items per request.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await error_response(400, "the Content-Length header is not a number; send a valid "
                                              "request.")(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await error_response(413, self._too_large())(scope, receive, send)
                    return
        # Read the whole body (at most the limit) first, then hand it to the app in one piece.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await error_response(413, self._too_large())(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client to disconnect

        await self.app(scope, replay, send)


class Limits:
    """The checks each handler makes against the service's limits."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    def batch(self, values: Sized, what: str) -> None:
        """At most ``max_batch`` ``what`` (items, ids, texts, labels, events) in one request, and at least one."""
        if len(values) > self.config.max_batch:
            raise LimitError(f"{len(values):,} {what} in one request is over the limit of "
                             f"{self.config.max_batch:,} {what} per request; send them in smaller batches.")
        if not len(values):
            raise LimitError(f"the request holds no {what}; send at least one.")

    def k(self, k: int, name: str = "k") -> int:
        """A result count between 1 and ``max_k``."""
        if k > self.config.max_k:
            raise LimitError(f"{name} is {k:,}, over the limit of {self.config.max_k:,} results per request; "
                             f"ask for fewer.")
        if k < 1:
            raise LimitError(f"{name} must be at least 1.")
        return k

    def query(self, query: str, name: str = "query") -> str:
        """A query of at most ``max_query_chars`` characters."""
        if len(query) > self.config.max_query_chars:
            raise LimitError(f"the {name} has {len(query):,} characters, over the limit of "
                             f"{self.config.max_query_chars:,}; shorten it.")
        return query

    def filters(self, expressions: list[str] | None) -> list[str]:
        """At most ``max_filters`` filter expressions."""
        expressions = list(expressions or [])
        if len(expressions) > self.config.max_filters:
            raise LimitError(f"{len(expressions)} filter expressions are over the limit of "
                             f"{self.config.max_filters}; combine conditions (for example 'area in a,b').")
        return expressions

    def page(self, offset: int, limit: int) -> None:
        """An item page of at most ``max_page`` items from a non-negative offset."""
        if limit > self.config.max_page:
            raise LimitError(f"limit is {limit:,}, over the limit of {self.config.max_page:,} items per page; "
                             "page through with offset.")
        if limit < 1 or offset < 0:
            raise LimitError("limit must be at least 1 and offset at least 0.")

    def map_points(self, limit: int | None) -> None:
        """At most ``max_map_points`` map points."""
        if limit is not None and limit > self.config.max_map_points:
            raise LimitError(f"limit is {limit:,}, over the limit of {self.config.max_map_points:,} map points; "
                             "ask for fewer.")
        if limit is not None and limit < 1:
            raise LimitError("limit must be at least 1.")
