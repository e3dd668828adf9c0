"""Schema fuzzing of the HTTP service: requests generated from its own OpenAPI document, against a real server.

Schemathesis reads ``/openapi.json`` from a running server (uvicorn on 127.0.0.1, over a collection of
``--items`` of the bundled docstrings with an admin key) and generates requests for every operation, both
valid ones and ones that break the schema on purpose (negative mode). Each response is checked: no 5xx,
its status code is one the document lists, its content type and its body match the document. The target:
0 server errors and 0 responses that break the schema over at least 2,000 requests.

``POST /adapt`` and ``POST /recommender/train`` are left out: a generated request to them starts minutes
of training in the background; their validation is covered by the test suite.

Usage: python benchmarks/service_fuzz.py [--examples 60] [--items 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import schemathesis
import uvicorn
from common import write_result
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from selfsim import Collection
from selfsim.http import create_app

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "selfsim" / "sample" / "stdlib_docs.jsonl"
LEFT_OUT = ("/adapt", "/recommender/train")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TARGET_REQUESTS = 2000


def start(collection: Collection) -> tuple[uvicorn.Server, str]:
    """The service over ``collection`` (named ``docs``) in a thread; returns the server and its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app({"docs": collection}), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def fuzz(base: str, key: str, examples: int, seed: int, item_ids: list[str]) -> dict[str, Any]:
    """Run every operation's generated cases; count requests, statuses and failed checks per operation."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    headers = {"Authorization": f"Bearer {key}"}
    per_operation: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if operation.path.endswith(LEFT_OUT):
            continue
        statuses = run_operation(operation, label, base, headers, examples, seed, failures, item_ids)
        per_operation[label] = {"requests": sum(statuses.values()), "statuses": dict(sorted(statuses.items()))}
        print(f"{label:70s} {sum(statuses.values()):5d} requests  {dict(sorted(statuses.items()))}", flush=True)
    return {"per_operation": per_operation, "failures": failures}


def run_operation(operation: Any, label: str, base: str, headers: dict[str, str], examples: int, seed: int,
                  failures: list[dict[str, Any]], item_ids: list[str]) -> Counter:
    """Generate up to ``examples`` cases for one operation, call the server with each and check the answer."""
    statuses: Counter = Counter()
    chooser = random.Random(f"{seed} {label}")

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed == 0,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        # Generated path values would almost never name the collection or an item: most cases get real ones,
        # so the bodies and queries reach the code behind the 404s.
        if "collection" in (case.path_parameters or {}) and chooser.random() < 0.9:
            case.path_parameters["collection"] = "docs"
        if "item_id" in (case.path_parameters or {}) and chooser.random() < 0.7:
            case.path_parameters["item_id"] = chooser.choice(item_ids)
        response = case.call(base_url=base, headers=headers, timeout=120)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # a failed check: record it and go on generating
            failures.append({"operation": label, "status": response.status_code,
                             "check": type(error).__name__, "message": str(error)[:600],
                             "request": {"path": case.formatted_path, "query": case.query,
                                         "body": case.body if isinstance(case.body, (dict, list, str)) else None}})

    run()
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="generated cases per operation")
    parser.add_argument("--items", type=int, default=300, help="docstrings in the collection")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("selfsim").setLevel(logging.CRITICAL)  # generated garbage is expected to be refused

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:args.items]]
        collection = Collection.create(Path(directory) / "docs")
        collection.add(records)
        key = collection.keys.create("admin", name="fuzz")[1]
        server, base = start(collection)
        try:
            found = fuzz(base, key, args.examples, args.seed, [r["id"] for r in records])
        finally:
            server.should_exit = True
            time.sleep(1)
            collection.close()
    requests = sum(o["requests"] for o in found["per_operation"].values())
    server_errors = sum(n for o in found["per_operation"].values() for s, n in o["statuses"].items() if s >= 500)
    failures = found["failures"]
    by_check = Counter(f["check"] for f in failures)
    print(f"{requests} requests over {len(found['per_operation'])} operations; 5xx: {server_errors}; "
          f"failed checks: {len(failures)} {dict(by_check)}; {time.perf_counter() - started:.0f} s")
    for failure in failures[:10]:
        print(json.dumps(failure)[:800])
    write_result("service_fuzz", {
        "data": f"{args.items} docstrings of the bundled sample, MiniLM encoder; an admin key",
        "generator": f"schemathesis {schemathesis.SCHEMATHESIS_VERSION}, positive and negative modes, "
                     f"{args.examples} cases per operation",
        "left_out": list(LEFT_OUT), "operations": len(found["per_operation"]), "requests": requests,
        "server_errors": server_errors, "failed_checks": len(failures), "failed_by_check": dict(by_check),
        "failures": failures[:50], "per_operation": found["per_operation"],
        "seconds": round(time.perf_counter() - started, 1),
        "meets_target": requests >= TARGET_REQUESTS and server_errors == 0 and not failures})


if __name__ == "__main__":
    main()
