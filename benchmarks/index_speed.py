"""`selfsim index` wall time per encoder backend, on the bundled sample and on the SciFact corpus, in one run.

Each measurement is the real command in a fresh process (``selfsim index DIR FILE
--backend B --json``) into a new collection, so it includes starting Python,
loading the model, reading, chunking, encoding, the SQLite writes and saving the
FAISS index: what a user waits for. The ONNX export happens before the timed
runs (it is a one-time cost of a few seconds, reported separately). Backends run
interleaved per corpus, so other load on the machine is shared out rather than
landing on one backend.

A variant ``BACKENDxN`` (``onnx-int8x2``) runs ``--processes N``: N single-threaded encoder processes.

Target (issue 16): each corpus indexes at >= 3x the torch fp32 path.

Usage: python benchmarks/index_speed.py [DATA_DIR] [--backends torch onnx-int8 onnx-int8x2] [--skip-scifact]
       [--skip-sample] [--name index_speed]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_DATA, write_result

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "selfsim" / "sample" / "stdlib_docs.jsonl"
TARGET_SPEEDUP = 3.0


def scifact_records(data: Path, target: Path) -> Path:
    """The SciFact corpus as JSONL with ``id`` and ``text`` (title + " " + abstract), as BEIR scores it."""
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as source, target.open("w") as out:
        for line in source:
            row = json.loads(line)
            text = f"{row.get('title', '')} {row.get('text', '')}".strip()
            out.write(json.dumps({"id": str(row["_id"]), "text": text}) + "\n")
    return target


def split_variant(variant: str) -> tuple[str, int]:
    """``"onnx-int8x2"`` -> ``("onnx-int8", 2)``; a bare backend runs in one process."""
    backend, _, processes = variant.rpartition("x")
    return (backend, int(processes)) if backend and processes.isdigit() else (variant, 1)


def index_once(file: Path, variant: str, scratch: Path) -> dict:
    """Run ``selfsim index`` into a new collection; the report plus the command's wall time."""
    backend, processes = split_variant(variant)
    collection = scratch / f"collection-{variant}-{time.monotonic_ns()}"
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-m", "selfsim.cli.main", "index", str(collection), str(file),
                             "--backend", backend, "--processes", str(processes), "--json"],
                            check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - started
    report = json.loads(output)
    subprocess.run(["rm", "-rf", str(collection)], check=True)
    return {"wall_seconds": round(wall, 1), "index_seconds": report["seconds"], "items": report["items"],
            "chunks": report["chunks"], "chunks_per_s": round(report["chunks"] / report["seconds"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx-int8", "onnx-int8x2"])
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--skip-sample", action="store_true")
    parser.add_argument("--name", default="index_speed", help="Result file name (benchmarks/results/NAME.json).")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = list(os.getloadavg())
    load_seconds = {}
    for backend in sorted({split_variant(v)[0] for v in args.backends}):  # export outside the timed runs
        begun = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"from selfsim.app import load_encoder; "
                        f"load_encoder('all-MiniLM-L6-v2', {backend!r})"], check=True)
        load_seconds[backend] = round(time.perf_counter() - begun, 1)
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="selfsim-index-speed-") as scratch_name:
        scratch = Path(scratch_name)
        corpora = {} if args.skip_sample else {"sample (3,610 docstrings)": SAMPLE}
        if not args.skip_scifact:
            corpora["SciFact corpus (5,183 abstracts)"] = scifact_records(args.data, scratch / "scifact.jsonl")
        for corpus, file in corpora.items():
            results[corpus] = {}
            for backend in args.backends:
                results[corpus][backend] = row = index_once(file, backend, scratch)
                print(f"{corpus:34s} {backend:12s} {row['wall_seconds']:7.1f} s wall, {row['index_seconds']:7.1f} s "
                      f"indexing, {row['chunks']:,} chunks ({row['chunks_per_s']:.1f}/s)", flush=True)
    verdicts = {}
    for corpus, rows in results.items():
        base = rows.get("torch")
        for backend, row in rows.items():
            if base is not None:
                row["speedup_wall"] = round(base["wall_seconds"] / row["wall_seconds"], 2)
                row["speedup_indexing"] = round(base["index_seconds"] / row["index_seconds"], 2)
                if backend != "torch":
                    verdicts[f"{corpus} {backend}"] = row["speedup_wall"] >= TARGET_SPEEDUP
            print(f"{corpus:34s} {backend:12s} x{row.get('speedup_wall', float('nan')):.2f} wall vs torch")
    write_result(args.name, {
        "data": {corpus: str(file) for corpus, file in
                 {"sample": SAMPLE, "scifact": args.data / "scifact" / "corpus.jsonl"}.items()},
        "command": "selfsim index DIR FILE --backend B --processes N --json (fresh process, new collection)",
        "load_before_after": [load_before, list(os.getloadavg())],
        "model_load_seconds (export when not yet cached)": load_seconds, "results": results,
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": verdicts, "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
