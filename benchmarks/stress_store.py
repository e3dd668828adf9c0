"""Store stress: N writer and M searcher processes on one collection through the public API, then a full check.

Writers add new items, upsert a small set of shared ids (so writers race on the same items),
delete some of their own items and shared ones, and close and reopen their handle now and then
(each close catches the vector index up and saves it, racing the other processes' saves).
Searchers run dense, keyword and hybrid searches, with and without filters, and reopen too.
Every exception in any process is an error. Afterwards the acknowledged writes are replayed in
commit order and compared with the store, and the index is checked against the store
(see ``store_checks.full_check``).

The encoder is a feature-hashing one (``--encoder hashing``, the default) so the run measures
the store, not a transformer; ``--encoder minilm`` uses the bundled all-MiniLM-L6-v2.

Usage: python benchmarks/stress_store.py [--writers 6] [--searchers 4] [--seconds 120] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_checks import HashingEncoder, consistent, full_check  # noqa: E402

from selfsim import Collection  # noqa: E402

WORDS = ("archive compress socket email parse date json thread lock queue file path network http server "
         "client cache index search token vector matrix graph random number string encode decode").split()
SHARED = 40


def _encoder(name: str) -> Any:
    if name == "hashing":
        return HashingEncoder()
    from selfsim.registry import load_encoder

    return load_encoder("all-MiniLM-L6-v2")


def _one_thread() -> None:
    """Ten processes share two cores: thread pools inside each would only fight."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


def _close(collection: Collection, errors: list[str]) -> None:
    try:
        collection.close()
    except Exception:  # noqa: BLE001 - every failure of any kind is what this benchmark counts
        errors.append(traceback.format_exc())


def _text(rng: random.Random, tag: str) -> str:
    return f"{tag}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))


def _writer(path: str, worker: int, seconds: float, encoder_name: str, start: Any, out: str) -> None:
    _one_thread()
    rng = random.Random(1000 + worker)
    encoder = _encoder(encoder_name)
    writes: list[dict[str, Any]] = []
    errors: list[str] = []
    own: list[str] = []
    operations = 0
    start.wait()
    collection = Collection.open(path, encoder=encoder)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        operations += 1
        choice = rng.random()
        try:
            if choice < 0.4:
                records = [{"id": f"w{worker}-{operations}-{n}", "text": _text(rng, f"w{worker} op{operations}"),
                            "writer": worker, "kind": "own"} for n in range(rng.randint(1, 5))]
                report = collection.add(records)
                writes += [{"generation": report.generation, "id": r["id"], "text": r["text"]} for r in records]
                own += [r["id"] for r in records]
            elif choice < 0.75:
                chosen = rng.sample(range(SHARED), rng.randint(1, 3))
                records = [{"id": f"shared-{s}", "text": _text(rng, f"shared {s} by w{worker} op{operations}"),
                            "writer": worker, "kind": "shared"} for s in chosen]
                report = collection.upsert(records)
                writes += [{"generation": report.generation, "id": r["id"], "text": r["text"]} for r in records]
            elif choice < 0.92:
                victims = [own.pop(rng.randrange(len(own))) for _ in range(min(len(own), rng.randint(1, 3)))]
                victims.append(f"shared-{rng.randrange(SHARED)}")
                deleted = collection.store.delete(victims)
                if deleted.generation is not None:
                    writes += [{"generation": deleted.generation, "id": v, "text": None} for v in victims]
            else:
                collection.close()
                collection = Collection.open(path, encoder=encoder)
        except Exception:  # noqa: BLE001 - every failure of any kind is what this benchmark counts
            errors.append(traceback.format_exc())
    _close(collection, errors)
    Path(out).write_text(json.dumps({"role": "writer", "operations": operations, "writes": writes,
                                     "errors": errors}))


def _searcher(path: str, worker: int, seconds: float, encoder_name: str, start: Any, out: str) -> None:
    _one_thread()
    rng = random.Random(2000 + worker)
    encoder = _encoder(encoder_name)
    errors: list[str] = []
    searches = 0
    start.wait()
    collection = Collection.open(path, encoder=encoder)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        searches += 1
        try:
            query = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            mode = rng.choice(["dense", "keyword", "hybrid"])
            filter = rng.choice([None, {"kind": "shared"}, {"writer": rng.randrange(6)}])
            for hit in collection.search(query, k=10, mode=mode, filter=filter):
                assert filter is None or all(hit.metadata.get(k) == v for k, v in filter.items()), hit
            if searches % 50 == 0:
                collection.close()
                collection = Collection.open(path, encoder=encoder)
        except Exception:  # noqa: BLE001
            errors.append(traceback.format_exc())
    _close(collection, errors)
    Path(out).write_text(json.dumps({"role": "searcher", "searches": searches, "errors": errors}))


def run(writers: int, searchers: int, seconds: float, encoder_name: str = "hashing",
        directory: Path | None = None) -> dict[str, Any]:
    """Run the stress and the full check; returns the figures (see the module docstring)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(directory or scratch)
        path = work / "stress-collection"
        seed_rng = random.Random(0)
        seed = [{"id": f"seed-{i}", "text": _text(seed_rng, f"seed {i}"), "writer": -1, "kind": "seed"}
                for i in range(200)]
        with Collection.create(path, encoder=_encoder(encoder_name)) as collection:
            report = collection.add(seed)
        seed_writes = [{"generation": report.generation, "id": r["id"], "text": r["text"]} for r in seed]
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(writers + searchers + 1)
        processes = []
        for role, count, target in (("writer", writers, _writer), ("searcher", searchers, _searcher)):
            for worker in range(count):
                out = str(work / f"{role}-{worker}.json")
                process = context.Process(target=target, args=(str(path), worker, seconds, encoder_name, start, out))
                process.start()
                processes.append((process, out))
        start.wait()
        began = time.monotonic()
        for process, _ in processes:
            process.join()
        elapsed = time.monotonic() - began
        logs = []
        for process, out in processes:
            if not Path(out).exists():
                logs.append({"role": "crashed", "errors": [f"a process exited with {process.exitcode}"]})
            else:
                logs.append(json.loads(Path(out).read_text()))
        writes = seed_writes + [w for log in logs for w in log.get("writes", [])]
        check = full_check(path, _encoder(encoder_name), writes)
    errors = [e for log in logs for e in log["errors"]]
    operations = sum(log.get("operations", 0) for log in logs)
    searches = sum(log.get("searches", 0) for log in logs)
    return {"writers": writers, "searchers": searchers, "seconds": round(elapsed, 1), "encoder": encoder_name,
            "errors": len(errors), "error_samples": errors[:5], "write_operations": operations,
            "acknowledged_writes": len(writes) - len(seed_writes), "searches": searches,
            "write_operations_per_second": round(operations / elapsed, 1),
            "searches_per_second": round(searches / elapsed, 1), "check": check,
            "consistent": consistent(check) and not errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--searchers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--encoder", choices=["hashing", "minilm"], default="hashing")
    parser.add_argument("--name", default="stress_store")
    args = parser.parse_args()
    result = run(args.writers, args.searchers, args.seconds, args.encoder)
    print(json.dumps({k: v for k, v in result.items() if k != "error_samples"}, indent=2))
    for sample in result["error_samples"]:
        print(sample)
    from common import write_result

    write_result(args.name, result)
    sys.exit(0 if result["consistent"] else 1)


if __name__ == "__main__":
    main()
