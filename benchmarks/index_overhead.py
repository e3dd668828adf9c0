"""Indexing overhead: what `selfsim index` adds to the encoder's own time on the same texts.

Two measurements of the same thing:

* **inside one run** (robust to other load on the machine): ``index_files`` is
  run with the encoder wrapped in a stopwatch, so the time spent encoding and
  the time spent on everything else (reading, chunking, SQLite writes of items,
  embeddings and FTS5 rows, saving the FAISS index) come from the same run;
* **separate runs**: encoding the chunk texts alone vs indexing them, the
  fastest of ``--repeats`` each, which is noisy when the machine is shared.

The encoder's time on the raw item texts (one vector each, truncated by the
model) is reported too. Texts: the bundled sample corpus (3,610 Python
docstrings), or ``--file`` any JSONL with ``id`` and ``text``.

Usage: python benchmarks/index_overhead.py [--file FILE.jsonl] [--limit N] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import write_result

from selfsim import Collection
from selfsim.config import ChunkingConfig
from selfsim.data.chunking import chunk_text
from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.registry import load_encoder

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "selfsim" / "sample" / "stdlib_docs.jsonl"
TARGET = 0.15


class Stopwatch:
    """An encoder that adds up the time its wrapped encoder spends encoding."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name, self.version, self.dim = inner.name, inner.version, inner.dim
        self.seconds = 0.0

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.encode(texts, batch_size=batch_size, progress=progress)
        finally:
            self.seconds += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=SAMPLE)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N records (0: all)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with args.file.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if args.limit:
        rows = rows[:args.limit]
    encoder = load_encoder("all-MiniLM-L6-v2")
    chunking = ChunkingConfig()
    chunk_texts = [chunk.text for row in rows for chunk in chunk_text(row["text"], chunking)]
    encoder.encode(chunk_texts[:64])  # warm-up

    runs = []
    with tempfile.TemporaryDirectory(prefix="selfsim-overhead-") as scratch:
        subset = Path(scratch) / "texts.jsonl"
        subset.write_text("".join(json.dumps(row) + "\n" for row in rows))
        for repeat in range(args.repeats):
            watch = Stopwatch(encoder)
            started = time.perf_counter()
            with Collection.create(Path(scratch) / f"c{repeat}", encoder=watch, chunking=chunking) as target:
                target.index_files([subset])
            index = time.perf_counter() - started

            started = time.perf_counter()
            encoder.encode(chunk_texts)
            encode = time.perf_counter() - started

            started = time.perf_counter()
            encoder.encode([row["text"] for row in rows])
            items = time.perf_counter() - started
            runs.append({"index": index, "encoder_inside_index": watch.seconds, "encode_chunks": encode,
                         "encode_items": items})

    best = min(runs, key=lambda run: run["index"])
    inside = best["index"] / best["encoder_inside_index"] - 1
    separate = min(r["index"] for r in runs) / min(r["encode_chunks"] for r in runs) - 1
    print(f"{len(rows):,} texts -> {len(chunk_texts):,} chunks ({args.file.name})")
    print(f"selfsim index: {best['index']:.1f} s, of which encoding {best['encoder_inside_index']:.1f} s "
          f"-> overhead {inside * 100:.2f}% (target <= {TARGET * 100:.0f}%)")
    print(f"separate runs: encoder alone on the chunks {min(r['encode_chunks'] for r in runs):.1f} s, "
          f"on whole items {min(r['encode_items'] for r in runs):.1f} s -> overhead {separate * 100:.1f}% "
          "(noisy when the machine is shared)")
    write_result("index_overhead", {
        "data": str(args.file), "texts": len(rows), "chunks": len(chunk_texts),
        "overhead_inside_one_run": round(inside, 4), "overhead_separate_runs": round(separate, 4),
        "target": TARGET, "meets_target": inside <= TARGET,
        "runs": [{k: round(v, 2) for k, v in run.items()} for run in runs]})


if __name__ == "__main__":
    main()
