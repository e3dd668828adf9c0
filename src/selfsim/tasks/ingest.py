"""Ingest: read records, cut them into chunks, embed the chunks and write them in batches.

Each batch is one transaction, so stopping at any point (an error, Ctrl-C, a
kill) leaves every earlier batch stored and searchable and nothing of the
batch in flight. Within one input (all the files of one call, or one upsert) a
repeated id keeps its last record, as a later line of a file replaces an
earlier one, and the report counts every such replacement; ids ``1`` and
``"1"`` are the same id (see :mod:`selfsim.data.records`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selfsim.config import ChunkingConfig, IngestConfig
from selfsim.data.chunking import chunk_text
from selfsim.data.readers import check_input_file, read_records
from selfsim.data.records import Record
from selfsim.encoders.base import Encoder
from selfsim.errors import InputError, RecordError
from selfsim.store.collection import Store
from selfsim.store.database import PreparedItem
from selfsim.tasks.topics.collection import NewItemTopics

Progress = Callable[[int], None]


SHOWN_REPLACEMENTS = 20  # replaced ids kept for the report; the count covers them all


@dataclass
class IngestReport:
    """What an ingest did: items and chunks written, records skipped (with why), time taken.

    ``items`` counts distinct ids written; ``replaced`` the records that replaced an earlier
    record with the same id in the same input (``replaced_ids``: the first few of those ids);
    ``empty_files`` the files that held no records at all.
    """

    items: int = 0
    chunks: int = 0
    skipped: list[InputError] = field(default_factory=list)
    seconds: float = 0.0
    replaced: int = 0
    replaced_ids: list[str] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)
    generation: int | None = None  # the store generation of the last batch written (None: nothing written)

    def note_replacement(self, item_id: str) -> None:
        """Count one record that replaced an earlier one with the same id."""
        self.replaced += 1
        if len(self.replaced_ids) < SHOWN_REPLACEMENTS:
            self.replaced_ids.append(item_id)

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
    """Embed and store ``records`` in batches of ``batch_size``, one transaction each.

    Without ``replace`` an id given twice is an error; with it the later record wins and the
    report counts the replacement.
    """
    report = IngestReport()
    started = time.perf_counter()
    writer = _BatchWriter(store, encoder, replace, batch_size, report, progress)
    for record in records:
        if not replace and writer.seen(record.id):
            raise InputError(f"the id {record.id!r} appears twice; give each item its own id, or use upsert "
                               "to let the later one win.")
        writer.add(record)
    writer.flush()
    report.seconds = time.perf_counter() - started
    return report


def check_files(paths: Sequence[str | Path], config: IngestConfig = IngestConfig()) -> None:
    """Raise now what would stop any of ``paths`` being read (missing, a directory, unknown format,
    not gzip, no text column), so a run can fail before it creates or writes anything."""
    for path in paths:
        check_input_file(path, config)


def ingest_files(store: Store, encoder: Encoder, paths: Sequence[str | Path],
                 config: IngestConfig = IngestConfig(), progress: Progress | None = None) -> IngestReport:
    """Index every record of ``paths`` (JSONL, CSV/TSV, Parquet), upserting by id.

    Bad records stop the run (``on_error="stop"``, after storing the good
    records before them) or are skipped and reported (``"skip"``). A file cut
    short (a damaged ``.gz``) counts as one bad record after the last line read.
    """
    check_files(paths, config)  # every file is checked before any is read, so a typo costs nothing
    report = IngestReport()
    started = time.perf_counter()
    writer = _BatchWriter(store, encoder, True, config.batch_size, report, progress)
    for path in paths:
        results = 0
        for _, result in read_records(path, config):
            results += 1
            if isinstance(result, InputError):
                if config.on_error == "stop":
                    writer.flush()
                    raise StoppedAtError(result, report.items)
                report.skipped.append(result)
                continue
            writer.add(result)
        if results == 0:
            report.empty_files.append(str(path))
    writer.flush()
    report.seconds = time.perf_counter() - started
    return report


class _BatchWriter:
    """Collects records into batches, writes each in one transaction and keeps the report's counts.

    It remembers every id of the input, so a repeated id is noticed however far apart the two
    records are (the memory is one string per distinct id).
    """

    def __init__(self, store: Store, encoder: Encoder, replace: bool, batch_size: int, report: IngestReport,
                 progress: Progress | None) -> None:
        self.store, self.encoder, self.replace = store, encoder, replace
        self.batch_size, self.report, self.progress = batch_size, report, progress
        self.batch: dict[str, Record] = {}
        self.written: set[str] = set()
        self.topics = NewItemTopics(store)  # topics saved by a clustering with --write reach new items too

    def seen(self, item_id: str) -> bool:
        """Whether an earlier record of this input had ``item_id``."""
        return item_id in self.batch or item_id in self.written

    def add(self, record: Record) -> None:
        """Queue ``record`` (replacing a queued one with its id) and write the batch when it is full."""
        if self.seen(record.id):
            self.report.note_replacement(record.id)
            self.batch.pop(record.id, None)  # the later record takes the later place in the batch
        self.batch[record.id] = record
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued records in one transaction."""
        if not self.batch:
            return
        prepared = prepare(list(self.batch.values()), self.encoder, self.store.config.chunking)
        prepared = self.topics.assign(prepared)
        self.report.generation = self.store.put(prepared, replace=self.replace)
        self.report.items += sum(1 for item_id in self.batch if item_id not in self.written)
        self.report.chunks += sum(len(p.chunks) for p in prepared)
        self.written.update(self.batch)
        if self.progress is not None:
            self.progress(len(prepared))
        self.batch.clear()
