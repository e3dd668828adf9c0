"""Ingest: read records, cut them into chunks, embed the chunks and write them in batches.

Each batch is one transaction, so stopping at any point (an error, Ctrl-C, a
kill) leaves every earlier batch stored and searchable and nothing of the
batch in flight. Within one batch a repeated id keeps its last record, as a
later line of a file replaces an earlier one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selfsim.config import ChunkingConfig, IngestConfig
from selfsim.data.chunking import chunk_text
from selfsim.data.readers import detect_format, read_records
from selfsim.data.records import Record
from selfsim.encoders.base import Encoder
from selfsim.errors import InputError, NotFoundError, RecordError
from selfsim.store.collection import Store
from selfsim.store.database import PreparedItem

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    """What an ingest did: items and chunks written, records skipped (with why), time taken."""

    items: int = 0
    chunks: int = 0
    skipped: list[InputError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def items_per_second(self) -> float:
        """Throughput over the whole run."""
        return self.items / self.seconds if self.seconds > 0 else 0.0


class StoppedAtError(RecordError):
    """A bad record under ``on_error="stop"``; carries how much was stored before it."""

    def __init__(self, error: RecordError, stored: int) -> None:
        super().__init__(error.source, error.location, error.problem,
                         f"{error.advice} ({stored} items before it were stored)")
        self.stored = stored


def prepare(records: Sequence[Record], encoder: Encoder, chunking: ChunkingConfig,
            progress: Progress | None = None) -> list[PreparedItem]:
    """Chunk and embed records (all chunks of the batch go to the encoder in one call)."""
    chunked = [chunk_text(record.text, chunking) for record in records]
    texts = [chunk.text for chunks in chunked for chunk in chunks]
    vectors = encoder.encode(texts, progress=progress)
    prepared, first = [], 0
    for record, chunks in zip(records, chunked, strict=True):
        prepared.append(PreparedItem(record, chunks, vectors[first:first + len(chunks)]))
        first += len(chunks)
    return prepared


def write_records(store: Store, encoder: Encoder, records: Iterable[Record], *, replace: bool,
                  batch_size: int = 256, progress: Progress | None = None) -> IngestReport:
    """Embed and store ``records`` in batches of ``batch_size``, one transaction each."""
    report = IngestReport()
    started = time.perf_counter()
    batch: dict[str, Record] = {}
    for record in records:
        if not replace and record.id in batch:
            raise InputError(f"the id {record.id!r} appears twice; give each item its own id, or use upsert "
                               "to let the later one win.")
        batch[record.id] = record  # with upsert, a repeated id keeps its last version
        if len(batch) >= batch_size:
            _flush(store, encoder, batch, replace, report, progress)
    _flush(store, encoder, batch, replace, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def ingest_files(store: Store, encoder: Encoder, paths: Sequence[str | Path],
                 config: IngestConfig = IngestConfig(), progress: Progress | None = None) -> IngestReport:
    """Index every record of ``paths`` (JSONL, CSV/TSV, Parquet), upserting by id.

    Bad records stop the run (``on_error="stop"``, after storing the good
    records before them) or are skipped and reported (``"skip"``).
    """
    for path in paths:  # every file is checked before any is read, so a typo costs nothing
        if not Path(path).is_file():
            raise NotFoundError(f"{path} does not exist; check the path.")
        detect_format(Path(path))
    report = IngestReport()
    started = time.perf_counter()
    batch: dict[str, Record] = {}
    for path in paths:
        for _, result in read_records(path, config):
            if isinstance(result, InputError):
                if config.on_error == "stop":
                    _flush(store, encoder, batch, True, report, progress)
                    raise StoppedAtError(result, report.items)
                report.skipped.append(result)
                continue
            batch[result.id] = result
            if len(batch) >= config.batch_size:
                _flush(store, encoder, batch, True, report, progress)
    _flush(store, encoder, batch, True, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def _flush(store: Store, encoder: Encoder, batch: dict[str, Record], replace: bool,
           report: IngestReport, progress: Progress | None) -> None:
    if not batch:
        return
    prepared = prepare(list(batch.values()), encoder, store.config.chunking)
    store.put(prepared, replace=replace)
    report.items += len(prepared)
    report.chunks += sum(len(p.chunks) for p in prepared)
    if progress is not None:
        progress(len(prepared))
    batch.clear()
