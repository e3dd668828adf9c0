"""The HTTP service under load: a real server on 127.0.0.1 over a 100k-chunk collection, 16 concurrent clients.

Two measurements, one run:

1. **What the HTTP layer adds.** With the server idle, the same hybrid searches (k=10) run one at a time
   through the Python API (``Collection.search`` in this process, on its own handle of the collection) and
   then over HTTP (``POST /api/collections/{c}/search``, one keep-alive connection); p50/p99 of each.
   Target: HTTP p99 within 15 ms of the API's p99.
2. **Mixed load.** ``--clients`` concurrent clients (asyncio + httpx) for ``--seconds``: 90% searches
   (hybrid, k=10; one in ten with a metadata filter), 10% writes (upsert of a new or an own item, or a
   delete of an own item). Each client writes only ids of its own (``load-<client>-<n>``), one request at a
   time, so the state each id must end in is the last acknowledged write to it. Reported: throughput,
   p50/p99 per endpoint, status counts (target: 0 5xx). Afterwards, with the server stopped: every
   acknowledged write is checked against the stored item (0 lost, 0 stale, 0 resurrected), the item count
   must equal the items before plus the acknowledged ones alive, and the full store check of the hardening
   work runs (SQLite integrity, the index against the chunks on open and on disk, every chunk found by its
   own vector).

The collection is the 100k short texts of ``search_latency.py`` with the bundled MiniLM encoder (built once
into ``--collection`` and copied for each run, so a rerun starts from the same state). The server runs in a
process of its own; the clients share one asyncio process; both on this machine's cores.

Usage: python benchmarks/service_load.py [DATA_DIR] [--seconds 120] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from common import DEFAULT_DATA, write_result
from search_latency import _tsv, build, percentiles
from store_checks import consistent, full_check

from selfsim import Collection

TARGET_OVERHEAD_MS = 15.0
WRITE_SHARE = 0.10
FILTERED_SHARE = 0.10
NAME = "load"


def serve(path: Path, port: int) -> None:
    """Run the server in this process until SIGINT/SIGTERM (the child side of :func:`start_server`)."""
    import uvicorn

    from selfsim.http import create_app

    collection = Collection.open(path)
    app = create_app({NAME: collection})
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        collection.close()


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    """A server process over ``path``; returns it and its base URL once ``/api/health`` answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(path), "--port", str(port)],
                               cwd=Path(__file__).parent)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not answer within 120 s")


def stop_server(process: subprocess.Popen) -> int:
    """SIGINT (uvicorn's graceful shutdown: the collection is closed and its index saved); its exit code."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def overhead(path: Path, base: str, key: str, queries: list[str]) -> dict[str, Any]:
    """Sequential hybrid searches through the Python API and over HTTP, the server otherwise idle."""
    timings: dict[str, list[float]] = {"api": [], "http": []}
    with Collection.open(path) as collection:
        for query in queries[:20]:
            collection.search(query, k=10)
        for query in queries:
            started = time.perf_counter()
            collection.search(query, k=10)
            timings["api"].append((time.perf_counter() - started) * 1000)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for query in queries[:20]:
            client.post(f"/api/collections/{NAME}/search", json={"query": query, "k": 10})
        for query in queries:
            started = time.perf_counter()
            response = client.post(f"/api/collections/{NAME}/search", json={"query": query, "k": 10})
            timings["http"].append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    api, http = percentiles(timings["api"]), percentiles(timings["http"])
    added = round(http["p99"] - api["p99"], 2)
    return {"queries": len(queries), "api_ms": api, "http_ms": http, "p99_added_ms": added,
            "target_p99_added_ms": TARGET_OVERHEAD_MS, "meets_target": added <= TARGET_OVERHEAD_MS}


class Client:
    """One load client: its own ids, the last acknowledged state of each, and its request log."""

    def __init__(self, number: int, seed: int) -> None:
        self.number = number
        self.rng = random.Random(seed)
        self.alive: list[str] = []
        self.acknowledged: dict[str, str | None] = {}  # id -> text (None: deleted)
        self.unsure: set[str] = set()  # a write that failed in transit may or may not have landed
        self.made = 0

    def next_write(self) -> tuple[str, dict[str, Any]]:
        if self.alive and self.rng.random() < 0.3:
            victim = self.rng.choice(self.alive)
            return "delete", {"ids": [victim]}
        if self.alive and self.rng.random() < 0.3:
            item_id = self.rng.choice(self.alive)
        else:
            item_id = f"load-{self.number}-{self.made}"
            self.made += 1
        text = f"load test item {item_id} revision {self.rng.randrange(10**9)} about {self.rng.choice(WORDS)}"
        return "upsert", {"items": [{"id": item_id, "text": text, "metadata": {"source": "load"}}],
                          "replace": True}


WORDS = ("files", "network sockets", "unit tests", "dates and times", "regular expressions", "threads",
         "email", "compression", "databases", "json")


async def run_client(client: Client, http: httpx.AsyncClient, queries: list[str], until: float,
                     latencies: dict[str, list[float]], statuses: Counter) -> None:
    while time.monotonic() < until:
        if client.rng.random() >= WRITE_SHARE:
            body: dict[str, Any] = {"query": client.rng.choice(queries), "k": 10}
            endpoint = "search"
            if client.rng.random() < FILTERED_SHARE:
                body["filter"] = ["bucket<10"]
                endpoint = "search (filtered)"
            url = f"/api/collections/{NAME}/search"
        else:
            endpoint, body = client.next_write()
            url = f"/api/collections/{NAME}/items" + ("/delete" if endpoint == "delete" else "")
        started = time.perf_counter()
        try:
            response = await http.post(url, json=body)
            status = response.status_code
        except httpx.HTTPError as error:  # a transport failure: the write may or may not have landed
            status = type(error).__name__
            response = None
        latencies[endpoint].append((time.perf_counter() - started) * 1000)
        statuses[(endpoint, status)] += 1
        if endpoint == "upsert":
            item = body["items"][0]
            if status == 200:
                client.acknowledged[item["id"]] = item["text"]
                if item["id"] not in client.alive:
                    client.alive.append(item["id"])
                client.unsure.discard(item["id"])
            else:
                client.unsure.add(item["id"])
        elif endpoint == "delete":
            victim = body["ids"][0]
            if status == 200:
                client.acknowledged[victim] = None
                client.alive.remove(victim)
                client.unsure.discard(victim)
            else:
                client.unsure.add(victim)


async def load(base: str, key: str, queries: list[str], clients: int, seconds: float,
               seed: int) -> tuple[list[Client], dict[str, list[float]], Counter, float]:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter = Counter()
    workers = [Client(number, seed * 1000 + number) for number in range(clients)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                 limits=limits) as http:
        started = time.monotonic()
        await asyncio.gather(*(run_client(worker, http, queries, started + seconds, latencies, statuses)
                               for worker in workers))
        elapsed = time.monotonic() - started
    return workers, latencies, statuses, elapsed


def verify(path: Path, workers: list[Client], items_before: int) -> dict[str, Any]:
    """Acknowledged writes against the stored items, the item count, and the full store check."""
    lost = stale = resurrected = checked = 0
    alive = 0
    with Collection.open(path) as collection:
        for worker in workers:
            for item_id, text in worker.acknowledged.items():
                if item_id in worker.unsure:
                    continue
                checked += 1
                try:
                    stored = collection.get(item_id).text
                except Exception:  # noqa: BLE001 - NotFoundError: the item is not there
                    stored = None
                if text is None:
                    resurrected += stored is not None
                elif stored is None:
                    lost += 1
                elif stored != text:
                    stale += 1
                alive += text is not None
        unsure = sum(len(w.unsure) for w in workers)
        unsure_alive = sum(1 for w in workers for i in w.unsure if i in collection)
        items_after = len(collection)
    check = full_check(path)
    expected = items_before + alive + unsure_alive
    return {"checked_ids": checked, "lost": lost, "stale": stale, "resurrected": resurrected,
            "unsure_ids": unsure, "items_before": items_before, "items_after": items_after,
            "items_expected": expected, "count_matches": items_after == expected,
            "store_check": check, "store_consistent": consistent(check)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", type=Path, default=Path("/tmp/selfsim-load-100k"),
                        help="where the 100k collection is built once and kept for reruns")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port)
        return

    source = args.collection
    if not (source / "collection.sqlite").exists():
        build(source, args.data, "Flat").close()
    work = source.with_name(source.name + "-run")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    with Collection.open(work) as collection:
        key = collection.keys.create("write", name="load benchmark")[1]
        items_before = len(collection)
        chunks = collection.info()["chunks"]
    queries = [*_tsv(args.data / "sst2" / "dev.tsv", ["text"]), *_tsv(args.data / "trec" / "test.tsv", ["text"])]
    random.Random(1).shuffle(queries)
    queries = queries[:args.queries]

    process, base = start_server(work)
    try:
        print("phase 1: the HTTP layer's cost, one request at a time", flush=True)
        added = overhead(work, base, key, queries)
        print(f"  API p50 {added['api_ms']['p50']} ms p99 {added['api_ms']['p99']} ms; HTTP p50 "
              f"{added['http_ms']['p50']} ms p99 {added['http_ms']['p99']} ms; p99 added {added['p99_added_ms']} ms "
              f"(target <= {TARGET_OVERHEAD_MS})", flush=True)
        print(f"phase 2: {args.clients} clients for {args.seconds:.0f} s", flush=True)
        workers, latencies, statuses, elapsed = asyncio.run(
            load(base, key, queries, args.clients, args.seconds, args.seed))
    finally:
        exit_code = stop_server(process)
    requests = sum(statuses.values())
    server_errors = sum(n for (_, status), n in statuses.items() if isinstance(status, int) and status >= 500)
    per_endpoint = {name: {"requests": len(values), "per_second": round(len(values) / elapsed, 1),
                           **percentiles(values)} for name, values in sorted(latencies.items())}
    for name, figures in per_endpoint.items():
        print(f"  {name:18s} {figures['requests']:6d} requests {figures['per_second']:7.1f}/s  "
              f"p50 {figures['p50']:8.2f} ms  p99 {figures['p99']:8.2f} ms", flush=True)
    print(f"  {requests} requests in {elapsed:.1f} s ({requests / elapsed:.1f}/s); statuses "
          f"{dict(Counter({f'{e} {s}': n for (e, s), n in statuses.items()}))}; 5xx: {server_errors}", flush=True)
    checked = verify(work, workers, items_before)
    print(f"after: {checked['checked_ids']} acknowledged ids checked: lost {checked['lost']}, stale "
          f"{checked['stale']}, resurrected {checked['resurrected']}; items {checked['items_after']} "
          f"(expected {checked['items_expected']}); store consistent: {checked['store_consistent']}", flush=True)
    write_result("service_load", {
        "data": f"{items_before:,} items / {chunks:,} chunks: the short texts of search_latency.py from {args.data}; "
                "queries: SST-2 dev and TREC test sentences",
        "encoder": "all-MiniLM-L6-v2 (torch fp32)", "clients": args.clients, "seconds": round(elapsed, 1),
        "mix": {"search": 1 - WRITE_SHARE, "filtered share of searches": FILTERED_SHARE, "writes": WRITE_SHARE},
        "http_overhead": added, "requests": requests, "requests_per_second": round(requests / elapsed, 1),
        "per_endpoint": per_endpoint,
        "statuses": {f"{endpoint} {status}": n for (endpoint, status), n in sorted(statuses.items(), key=str)},
        "server_errors": server_errors, "server_exit_code": exit_code, "after": checked,
        "meets_targets": {"no_5xx": server_errors == 0, "acknowledged_state": checked["lost"] == checked["stale"]
                          == checked["resurrected"] == 0 and checked["count_matches"],
                          "store_consistent": checked["store_consistent"],
                          "http_p99_within_15ms": added["meets_target"]}})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
