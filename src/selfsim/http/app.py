"""The FastAPI app over open collections: ``create_app({"name": collection, ...})``.

Routers are split by job (one file each under :mod:`selfsim.http.routes`); every route but
``GET /api/health``, the web page and the API docs needs an API key (see :mod:`selfsim.http.auth`).
The web page (``static/index.html`` and its assets) is served at ``/`` and ``/static``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from selfsim.app import Collection
from selfsim.config import ServiceConfig
from selfsim.http.errors import error_response, install_error_handlers
from selfsim.http.jobs import JobRunner
from selfsim.http.limits import BodyLimit, Limits
from selfsim.http.routes import ROUTERS
from selfsim.http.state import Registry
from selfsim.version import __version__

STATIC_DIR = Path(__file__).parent / "static"
_PLACEHOLDER = ("<!doctype html><title>selfsim</title><p>The selfsim service is running; "
                "the web page is not installed. The API is described at <a href=\"/docs\">/docs</a>.</p>")


def create_app(collections: Mapping[str, Collection], config: ServiceConfig = ServiceConfig(),
               static_dir: Path = STATIC_DIR) -> FastAPI:
    """The service over ``collections`` (name -> open collection, which the caller closes after).

    ``config`` holds the limits; ``static_dir`` the web page (a missing directory serves a one-line page).
    """
    jobs = JobRunner(keep=config.max_jobs_kept)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.shutdown()

    app = FastAPI(title="selfsim", version=__version__, lifespan=lifespan,
                  description="Semantic search, duplicates, topics, few-label classification and recommendation "
                              "over selfsim collections. Send `Authorization: Bearer <key>` (see docs/http.md).")
    app.state.registry = Registry(collections)
    app.state.config = config
    app.state.limits = Limits(config)
    app.state.jobs = jobs
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    _add_web_page(app, static_dir)
    return app


def _add_web_page(app: FastAPI, static_dir: Path) -> None:
    index = static_dir / "index.html"

    @app.get("/", include_in_schema=False)
    def web_page() -> Response:
        if index.is_file():
            return FileResponse(index, media_type="text/html")
        return HTMLResponse(_PLACEHOLDER)

    app.mount("/static", _LazyStatic(static_dir), name="static")


class _LazyStatic:
    """Static files from a directory that may appear after the app is made; until then every path is a 404."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: StaticFiles | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._files is None and self.directory.is_dir():
            self._files = StaticFiles(directory=self.directory)
        if self._files is None:
            await error_response(404, "the web page's files are not installed; the API works without them.")(
                scope, receive, send)
            return
        await self._files(scope, receive, send)
