"""A real selfsim server in a background thread, for the HTTP tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from selfsim.app import Collection

ROLES = ("read", "write", "admin")


class Captured(logging.Handler):
    """Every log record of the server (uvicorn's and selfsim's), formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Server:
    """A running server: where it answers, its keys by role, and its collection's directory and name."""

    base_url: str
    keys: dict[str, str]
    path: Path
    name: str
    collection: Collection
    app: Any
    log: Captured = field(repr=False, default_factory=lambda: Captured())

    def client(self, role: str | None = "read", key: str | None = None, **options: Any) -> httpx.Client:
        """An httpx client for this server with the key of ``role`` (None: no key), or with ``key``."""
        key = key or (self.keys[role] if role else None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **options)

    def url(self, tail: str = "") -> str:
        """The path of this server's collection plus ``tail``: ``/api/collections/<name><tail>``."""
        return f"/api/collections/{self.name}{tail}"

    def log_text(self) -> str:
        """Everything the server logged so far."""
        return "\n".join(self.log.lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(app: Any, captured: Captured | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread on a free port of 127.0.0.1 until the block ends;
    yields the base URL once ``/api/health`` answers. ``captured`` collects the server's log meanwhile."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "selfsim")]
    if captured is not None:
        for logger in loggers:
            logger.addHandler(captured)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="info",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        if captured is not None:
            for logger in loggers:
                logger.removeHandler(captured)
