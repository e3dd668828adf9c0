"""``selfsim serve``: the HTTP service (and its web page) over one or more collections."""

from __future__ import annotations

import ipaddress
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from selfsim.app import Collection
from selfsim.cli.common import errors, safe, warn
from selfsim.config import ServiceConfig
from selfsim.errors import ConfigError


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def collection_names(paths: list[Path]) -> dict[str, Path]:
    """Each collection's name in URLs (its directory's name); two with one name are a :class:`ConfigError`."""
    names: dict[str, Path] = {}
    for path in paths:
        name = path.resolve().name
        if name in names:
            raise ConfigError(f"two collections are called {name!r} ({names[name]} and {path}); the name in URLs is "
                              "the directory's name, so serve collections whose directories are named apart.")
        names[name] = path
    return names


def serve(
    collections: Annotated[list[Path], typer.Argument(help="Collection directories; each is served under its "
                                                          "directory's name.")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, in MiB.")] = 8.0,
) -> None:
    """Serve COLLECTIONS over HTTP: the API under /api (with API keys, see `selfsim keys`), its docs at /docs
    and the web page at /."""
    from selfsim.http import create_app  # FastAPI loads only for this command

    names = collection_names(collections)
    config = ServiceConfig(max_body_bytes=int(max_body_mb * 1024 * 1024))
    with ExitStack() as stack:
        opened = {name: stack.enter_context(Collection.open(path)) for name, path in names.items()}
        keys = sum(collection.keys.active() for collection in opened.values())
        if not keys:
            warn("no collection has an API key yet, so every request but /api/health will be refused; "
                 "make one with: selfsim keys create COLLECTION --role read")
        if not is_loopback(host) and not keys:
            warn(f"listening on {host}, which other machines can reach; make keys before you share the address.")
        for collection in opened.values():
            collection.encoder  # noqa: B018  (load the model now, not on the first search)
        app = create_app(opened, config)
        errors.print(f"serving {safe(', '.join(opened))} at http://{safe(host)}:{port} (API docs at /docs)",
                     highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="info")
