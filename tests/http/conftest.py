"""A real selfsim server for the HTTP tests: a copy of the sample collection, three keys, uvicorn on a free port.

``served`` is module-scoped, so the tests of one module share one server (and may change its collection);
each module gets a fresh copy. ``start_server`` starts more (other limits, several collections).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx2 as httpx  # the installed client (pydantic's httpx2); its API is httpx's
import pytest
import uvicorn
from live_server import ROLES, Captured, Server, free_port

from selfsim.app import Collection
from selfsim.config import ServiceConfig
from selfsim.encoders.base import Encoder
from selfsim.http import create_app


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path,
                 encoder: Encoder) -> Iterator[Callable[..., Server]]:
    """``start_server(name="docs", config=ServiceConfig(), extra={})``: a server over a fresh copy of the sample
    collection called ``name`` (plus ``extra``: more open collections by name), with a key of each role; every
    server started is stopped and its collections closed at the end of the module."""
    running: list[tuple[uvicorn.Server, threading.Thread, list[Collection], Captured]] = []

    def start(name: str = "docs", config: ServiceConfig = ServiceConfig(),
              extra: Mapping[str, Collection] | None = None) -> Server:
        path = tmp_path_factory.mktemp("served") / name
        shutil.copytree(sample_dir, path)
        collection = Collection.open(path, encoder=encoder)
        keys = {role: collection.keys.create(role, name=f"test {role}")[1] for role in ROLES}
        app = create_app({name: collection, **(extra or {})}, config)
        captured = Captured()
        for logger in ("uvicorn", "selfsim"):
            logging.getLogger(logger).addHandler(captured)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                               log_level="info", lifespan="on"))
        thread = threading.Thread(target=server.run, name=f"uvicorn-{name}", daemon=True)
        thread.start()
        running.append((server, thread, [collection, *(extra or {}).values()], captured))
        base_url = f"http://127.0.0.1:{port}"
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
        return Server(base_url, keys, path, name, collection, app, captured)

    yield start
    for server, thread, collections, captured in running:
        server.should_exit = True
        thread.join(timeout=30)
        for collection in collections:
            collection.close()
        for logger in ("uvicorn", "selfsim"):
            logging.getLogger(logger).removeHandler(captured)


@pytest.fixture(scope="module")
def served(start_server: Callable[..., Server]) -> Server:
    """A running server over a copy of the sample collection, named ``docs``; ``served.keys`` holds a key per
    role (read, write, admin); ``served.base_url``, ``served.path`` and ``served.name`` say where it is."""
    return start_server()
