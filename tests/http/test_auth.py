"""API keys on the wire: every route but health, the page and the docs needs one, roles are enforced, keys
are managed through the CLI and never show up in answers or logs."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from live_server import Server
from typer.testing import CliRunner

from selfsim.app import Collection
from selfsim.cli.main import app as cli
from selfsim.encoders.base import Encoder

OPEN_PATHS = {"/api/health", "/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
ROLE_BELOW = {"write": "read", "admin": "write"}


def _required_role(route: APIRoute) -> str | None:
    """The least role a route's dependencies ask for (None: no key needed)."""
    roles = [getattr(dependant.call, "required_role", None) for dependant in route.dependant.dependencies]
    roles = [role for role in roles if role is not None]
    assert len(roles) <= 1, route.path
    return roles[0] if roles else None


def _example_path(path: str, name: str) -> str:
    """The route's path with its parameters filled in (an id that exists, a topic, a task)."""
    values = {"collection": name, "item_id": "bz2", "topic": "0", "task": "area", "job": "0" * 16}
    return re.sub(r"{(\w+)}", lambda match: values[match[1]], path)


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path, through included routers (which FastAPI mounts lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _walk(original.routes, prefix + route.include_context.prefix)


def _api_routes(served: Server) -> list[tuple[str, str, APIRoute]]:
    found = []
    for path, route in _walk(served.app.routes):
        if path not in OPEN_PATHS:
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, path, route))
    return found


def test_every_route_but_health_needs_a_key_and_the_right_role(served: Server) -> None:
    routes = _api_routes(served)
    assert len(routes) >= 25  # the whole contract is mounted
    with served.client(None) as anonymous, served.client("read") as reader, served.client("write") as writer:
        keyed = {"read": reader, "write": writer}
        for method, path, route in routes:
            role = _required_role(route)
            assert role in ("read", "write", "admin"), f"{method} {path} asks for no key"
            url = _example_path(path, served.name)
            refused = anonymous.request(method, url, json={})
            assert refused.status_code == 401, (method, path, refused.text)
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer" in refused.json()["error"]
            wrong = anonymous.request(method, url, json={}, headers={"Authorization": "Bearer ss_not-a-key"})
            assert wrong.status_code == 401, (method, path)
            if role in ROLE_BELOW:
                low = keyed[ROLE_BELOW[role]].request(method, url, json={})
                assert low.status_code == 403, (method, path, low.text)
                assert f"role {role} or above" in low.json()["error"]


def test_open_routes_answer_without_a_key(served: Server) -> None:
    with served.client(None) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/").status_code == 200 and "<html" in client.get("/").text.lower()
        schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "/api/collections/{collection}/search" in paths and "/api/jobs/{job}" in paths
    # every route documents its answer and the error shape
    for path, methods in paths.items():
        for method, operation in methods.items():
            assert "200" in operation["responses"] or "202" in operation["responses"], (method, path)
            if path != "/api/health":
                assert "401" in operation["responses"], (method, path)


def test_writing_duplicate_groups_needs_a_write_key(served: Server) -> None:
    with served.client("read") as reader:
        refused = reader.post(served.url("/duplicates"), json={"write": True})
        assert refused.status_code == 403 and "write" in refused.json()["error"]
        assert reader.post(served.url("/duplicates"), json={}).status_code == 200


def test_a_key_opens_only_its_own_collection(start_server: Callable[..., Server], sample_dir: Path,
                                              encoder: Encoder, tmp_path: Path) -> None:
    shutil.copytree(sample_dir, tmp_path / "other")
    other = Collection.open(tmp_path / "other", encoder=encoder)  # closed with the server
    _, other_key = other.keys.create("admin")
    two = start_server(name="main", extra={"other": other})
    with two.client("read") as client:
        assert [c["name"] for c in client.get("/api/collections").json()["collections"]] == ["main"]
        refused = client.get("/api/collections/other/items")
        assert refused.status_code == 401 and "'other'" in refused.json()["error"]
        missing = client.get("/api/collections/nowhere")
        assert missing.status_code == 404 and "other" not in missing.json()["error"]  # served names never listed
    with two.client(key="ss_000000000000_" + "0" * 64) as client:  # a wrong key: unknown names look the same
        assert client.get("/api/collections/nowhere").status_code == 401
    with two.client("write") as client:
        job = client.post(two.url("/topics"), json={"filter": ["area=no such area"]}).json()["job"]
        assert client.get(f"/api/jobs/{job}").status_code == 200
    with two.client(key=other_key) as client:
        listed = client.get("/api/collections").json()["collections"]
        assert listed == [{"name": "other", "items": len(other), "role": "admin"}]
        assert client.get("/api/collections/main").status_code == 401
        assert client.get(f"/api/jobs/{job}").status_code == 404  # a job of a collection the key does not open


def test_keys_through_the_cli_and_a_revoked_key_is_refused(served: Server) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", str(served.path), "--role", "write", "--name", "cli test"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert re.fullmatch(r"ss_[0-9a-f]{12}_[0-9a-f]{64}", key)
    key_id = key.split("_")[1]
    listed = runner.invoke(cli, ["keys", "list", str(served.path), "--json"])
    records = {record["key_id"]: record for record in json.loads(listed.stdout)}
    assert records[key_id]["role"] == "write" and records[key_id]["name"] == "cli test"
    assert key not in listed.stdout and key.rsplit("_", 1)[1] not in listed.stdout
    table = runner.invoke(cli, ["keys", "list", str(served.path)])
    assert table.exit_code == 0 and key_id in table.stdout and key not in table.stdout
    with served.client(key=key) as client:
        assert client.get(served.url()).status_code == 200  # a key made while the server runs works at once
        revoked = runner.invoke(cli, ["keys", "revoke", str(served.path), key_id])
        assert revoked.exit_code == 0 and "revoked" in revoked.stdout
        refused = client.get(served.url())
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    bad_role = runner.invoke(cli, ["keys", "create", str(served.path), "--role", "owner"])
    assert bad_role.exit_code != 0


def test_no_key_material_in_answers_or_logs(served: Server) -> None:
    secrets = list(served.keys.values())
    with served.client(None) as client:
        for key in secrets:
            forged = key[:-4] + "0000"
            answer = client.get(served.url(), headers={"Authorization": f"Bearer {forged}"})
            assert answer.status_code == 401 and forged not in answer.text and forged[3:15] not in answer.text
    with served.client("admin") as client:
        for answer in (client.get(served.url()), client.get("/api/collections")):
            assert not any(key in answer.text for key in secrets)
    log = served.log_text()
    assert log and not any(key in log or key.rsplit("_", 1)[1] in log for key in secrets)
