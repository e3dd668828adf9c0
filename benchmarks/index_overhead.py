"""Indexing overhead: `selfsim index` time against the encoder's own time on the same texts.

Both runs embed exactly the chunks selfsim makes of the texts (most texts are
one chunk); the difference is reading, chunking, SQLite writes (items,
embeddings, FTS5) and saving the FAISS index. The encoder's time on the raw
item texts (one vector each, truncated by the model) is reported too.

Texts: the bundled sample corpus (3,610 Python docstrings), or ``--file`` any
JSONL with ``id`` and ``text``. Each measurement is run ``--repeats`` times and
the fastest is kept, since other load on a 2-core machine only ever adds time.

Usage: python benchmarks/index_overhead.py [--file FILE.jsonl] [--limit N] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import write_result

from selfsim import Collection
from selfsim.config import ChunkingConfig
from selfsim.data.chunking import chunk_text
from selfsim.registry import load_encoder

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "selfsim" / "sample" / "stdlib_docs.jsonl"
TARGET = 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=SAMPLE)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N records (0: all)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with args.file.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if args.limit:
        rows = rows[:args.limit]
    encoder = load_encoder("all-MiniLM-L6-v2")
    chunking = ChunkingConfig()
    chunk_texts = [chunk.text for row in rows for chunk in chunk_text(row["text"], chunking)]
    encoder.encode(chunk_texts[:64])  # warm-up

    encode_times, item_times, index_times = [], [], []
    with tempfile.TemporaryDirectory(prefix="selfsim-overhead-") as scratch:
        subset = Path(scratch) / "texts.jsonl"
        subset.write_text("".join(json.dumps(row) + "\n" for row in rows))
        for repeat in range(args.repeats):
            started = time.perf_counter()
            encoder.encode(chunk_texts, batch_size=32)
            encode_times.append(time.perf_counter() - started)

            started = time.perf_counter()
            with Collection.create(Path(scratch) / f"c{repeat}", encoder=encoder, chunking=chunking) as target:
                target.index_files([subset])
            index_times.append(time.perf_counter() - started)

            started = time.perf_counter()
            encoder.encode([row["text"] for row in rows], batch_size=32)
            item_times.append(time.perf_counter() - started)

    encode, index, items = min(encode_times), min(index_times), min(item_times)
    overhead = index / encode - 1
    print(f"{len(rows):,} texts -> {len(chunk_texts):,} chunks ({args.file.name})")
    print(f"encoder only, chunks: {encode:.1f} s; encoder only, whole items: {items:.1f} s")
    print(f"selfsim index (read, chunk, encode, SQLite + FTS5, FAISS save): {index:.1f} s")
    print(f"overhead over the encoder's own time: {overhead * 100:.1f}% (target <= {TARGET * 100:.0f}%)")
    write_result("index_overhead", {
        "data": str(args.file), "texts": len(rows), "chunks": len(chunk_texts),
        "encode_chunks_seconds": round(encode, 2), "encode_items_seconds": round(items, 2),
        "index_seconds": round(index, 2), "overhead": round(overhead, 4), "target": TARGET,
        "meets_target": overhead <= TARGET, "all_runs": {"encode": encode_times, "index": index_times,
                                                          "items": item_times}})


if __name__ == "__main__":
    main()
