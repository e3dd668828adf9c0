"""A real selfsim server for the HTTP tests: a copy of the sample collection, three keys, uvicorn on a free port.

``served`` is module-scoped, so the tests of one module share one server (and may change its collection);
each module gets a fresh copy. ``start_server`` starts more (other limits, several collections).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest
from live_server import ROLES, Captured, Server, running

from selfsim.app import Collection
from selfsim.config import ServiceConfig
from selfsim.encoders.base import Encoder
from selfsim.http import create_app

# PCA maps: UMAP's first map in a process compiles its code (about 26 s), which the map tests do not need.
TEST_CONFIG = ServiceConfig(map_method="pca")


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path,
                 encoder: Encoder) -> Iterator[Callable[..., Server]]:
    """``start_server(name="docs", config=TEST_CONFIG, extra={})``: a server over a fresh copy of the sample
    collection called ``name`` (plus ``extra``: more open collections by name), with a key of each role; every
    server started is stopped and its collections closed at the end of the module."""
    with ExitStack() as stack:

        def start(name: str = "docs", config: ServiceConfig = TEST_CONFIG,
                  extra: Mapping[str, Collection] | None = None) -> Server:
            path = tmp_path_factory.mktemp("served") / name
            shutil.copytree(sample_dir, path)
            collection = stack.enter_context(Collection.open(path, encoder=encoder))
            for other in (extra or {}).values():
                stack.callback(other.close)
            keys = {role: collection.keys.create(role, name=f"test {role}")[1] for role in ROLES}
            app = create_app({name: collection, **(extra or {})}, config)
            captured = Captured()
            base_url = stack.enter_context(running(app, captured))  # stopped before the collections close
            return Server(base_url, keys, path, name, collection, app, captured)

        yield start


@pytest.fixture(scope="module")
def served(start_server: Callable[..., Server]) -> Server:
    """A running server over a copy of the sample collection, named ``docs``; ``served.keys`` holds a key per
    role (read, write, admin); ``served.base_url``, ``served.path`` and ``served.name`` say where it is."""
    return start_server()
