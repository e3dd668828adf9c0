"""Index files on Ray: reading, chunking and encoding as a Ray Data pipeline; one writer, the driver.

The pipeline has three stages::

    file paths --read (tasks, one per file)--> records --chunk + encode (actor pool)--> vectors --> writer

- reading yields every record of a file in order, with a sequence number ``(file, line)``; a bad record
  travels as an error row so the writer can stop at it or skip it exactly as a local run does;
- an actor pool of encoders (one model per actor, loaded once, ``threads`` each) chunks and embeds
  batches of records; an actor that dies is restarted by Ray and its batch is run again (Ray Data's actor
  fault tolerance), so a crash costs time, never an item;
- records travel in packets of ``encode_batch`` (one Ray Data block, one encoder call, one task each), so
  the actors share any file and every packet's vectors reach the writer as soon as it is encoded;
- the driver is the only writer: it takes results in input order and writes them to the collection in
  transactions of ``batch_size`` records, exactly as :func:`selfsim.tasks.ingest.ingest_files` does (a
  later record with the same id replaces the earlier one). It remembers every sequence number it wrote,
  so a batch that reaches it twice is written once, and writes are upserts by item id, so even a rerun
  of the whole command leaves each item once.

SQLite has one writer at a time anyway; what Ray spreads is the encoding, which is where the time goes
(see docs/ray.md for when the writer becomes the bottleneck).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.config import ChunkingConfig, IngestConfig
from selfsim.data.chunking import Chunk, chunk_text
from selfsim.data.readers import read_records
from selfsim.data.records import Record
from selfsim.encoders.base import Backend, Encoder, backend_of
from selfsim.errors import ConfigError, InputError
from selfsim.store.collection import Store
from selfsim.store.database import PreparedItem
from selfsim.tasks.distributed.cluster import cluster_cpus, quiet_data, require_ray
from selfsim.tasks.ingest import IngestReport, Progress, StoppedAtError, check_files
from selfsim.tasks.topics.collection import NewItemTopics

RECORD, ERROR, EMPTY = "record", "error", "empty"
# Ray Data's target block size for this pipeline: below the size of any packet, so that every packet is a
# block of its own (see build_dataset).
BLOCK_BYTES = 64
COLUMNS = ("seq", "kind", "id", "text", "metadata", "error")


@dataclass(frozen=True)
class RayIndexConfig:
    """How an index run uses the cluster.

    ``workers`` encoder actors (default: the cluster's CPUs divided by ``threads``), each running its
    model on ``threads`` threads and taking ``encode_batch`` records per call (one packet). 128, measured
    in ``benchmarks/ray_scaling.py``: the encoder sorts a call's texts by length and pads each batch only to
    its longest, so packets of 64 encoded about 8% slower, while packets of 256 shared out unevenly at the
    end of a job (two workers x1.57 one, against x1.92 with 128); Ray's per-call cost (milliseconds) is
    negligible either way, results reach the writer every packet or two, and a retried packet costs little.
    ``in_flight`` packets are queued on each actor, so it never waits for its next input.
    """

    workers: int | None = None
    threads: int = 1
    encode_batch: int = 128
    in_flight: int = 2

    def __post_init__(self) -> None:
        for name in ("threads", "encode_batch", "in_flight"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}.")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, not {self.workers}.")


# -- stage 1: reading ----------------------------------------------------------------------------------


def read_files(batch: dict[str, np.ndarray], config: IngestConfig,
               block_rows: int = 256) -> Iterator[dict[str, list[bytes]]]:
    """Every record (or bad record) of the files in ``batch["path"]``, in packets of ``block_rows`` rows
    (one encoder call's worth, yielded as soon as it is read), each a one-row batch ``{"packet": [bytes]}``.

    A row's ``seq`` orders it in the input: the file's number in the high bits, the record's in the low.
    """
    for path, number in zip(batch["path"].tolist(), batch["file"].tolist(), strict=True):
        rows = _empty_rows()
        count = 0
        for count, (_, result) in enumerate(read_records(path, config), start=1):
            seq = (int(number) << 40) + count
            if isinstance(result, InputError):
                _append(rows, seq, ERROR, error=pickle.dumps(result))
            else:
                _append(rows, seq, RECORD, item_id=result.id, text=result.text,
                        metadata=json.dumps(result.metadata, ensure_ascii=False))
            if len(rows["seq"]) >= block_rows:
                yield pack(rows)
                rows = _empty_rows()
        if count == 0:
            _append(rows, int(number) << 40, EMPTY, text=str(path))
        if rows["seq"]:
            yield pack(rows)


def pack(rows: dict[str, Any]) -> dict[str, list[bytes]]:
    """``rows`` (columns of equal length) as a one-row batch: a packet travels and is encoded as one unit.

    Pickle is only the wire format between this pipeline's own processes (as Ray's own is); nothing
    pickled is ever stored.
    """
    return {"packet": [pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)]}


def unpack(batch: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The row columns of every packet in ``batch`` (a column of packets: an array or a list)."""
    for packet in batch["packet"]:
        yield pickle.loads(packet)


def _empty_rows() -> dict[str, list[Any]]:
    return {column: [] for column in COLUMNS}


def _append(rows: dict[str, list[Any]], seq: int, kind: str, item_id: str = "", text: str = "",
            metadata: str = "{}", error: bytes = b"") -> None:
    for column, value in zip(COLUMNS, (seq, kind, item_id, text, metadata, error), strict=True):
        rows[column].append(value)


# -- stage 2: chunking and encoding --------------------------------------------------------------------


def load_worker_encoder(name: str, backend: Backend, threads: int) -> Encoder:
    """The encoder ``name`` run by ``backend`` on ``threads`` threads (one actor's share of its node)."""
    if backend == "torch":
        import torch

        from selfsim.registry import load_encoder

        torch.set_num_threads(threads)
        return load_encoder(name, backend)
    from selfsim.encoders.onnx_runtime import OnnxEncoder
    from selfsim.registry import MODELS

    if name in MODELS:
        return OnnxEncoder(MODELS[name](), backend, name=name, threads=threads)  # type: ignore[arg-type]
    return OnnxEncoder(name, backend, threads=threads)  # type: ignore[arg-type]


class EncodeWorker:
    """One actor of the pool: loads the model once, then chunks and embeds batches of records."""

    def __init__(self, encoder: str, backend: Backend, threads: int, chunking: ChunkingConfig) -> None:
        self.encoder = load_worker_encoder(encoder, backend, threads)
        self.chunking = chunking

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        """Each packet of ``batch`` with its records' chunk spans and vectors added (one encoder call)."""
        packets = [self.encode_rows(rows) for rows in unpack(batch)]
        return {"packet": [pack(rows)["packet"][0] for rows in packets]}

    def encode_rows(self, rows: dict[str, Any]) -> dict[str, Any]:
        """Add ``spans`` (JSON per record), ``vectors`` (float32 bytes, ``(n_chunks, dim)``) and the encoder's
        ``version`` to the columns ``rows``."""
        chunked = [chunk_text(text, self.chunking) if kind == RECORD else []
                   for kind, text in zip(rows["kind"], rows["text"], strict=True)]
        texts = [chunk.text for chunks in chunked for chunk in chunks]
        vectors = np.ascontiguousarray(self.encoder.encode(texts), dtype=np.float32)
        spans, blobs, first = [], [], 0
        for chunks in chunked:
            spans.append(json.dumps([[c.position, c.start, c.end] for c in chunks]))
            blobs.append(vectors[first:first + len(chunks)].tobytes())
            first += len(chunks)
        return {**rows, "spans": spans, "vectors": blobs, "version": [self.encoder.version] * len(chunked)}


# -- stage 3: the writer -------------------------------------------------------------------------------


def ray_ingest_files(store: Store, encoder: Encoder, paths: Sequence[str | Path],
                     config: IngestConfig = IngestConfig(), ray_config: RayIndexConfig = RayIndexConfig(),
                     progress: Progress | None = None, worker: type[EncodeWorker] = EncodeWorker) -> IngestReport:
    """Index ``paths`` into ``store`` with the pipeline above, on the Ray cluster this process is connected to.

    ``encoder`` is the collection's own (its name, backend and version are what the actors load and are
    checked against); the report is the one :func:`~selfsim.tasks.ingest.ingest_files` gives for the same
    files. ``worker`` is the actor class (a subclass can add behaviour, e.g. a test's crash).
    """
    ray = require_ray()
    check_files(paths, config)
    if not ray.is_initialized():
        raise ConfigError("there is no Ray cluster to run on; connect with ray.init() or use "
                          "selfsim.app.ray_session().")
    quiet_data()
    workers = ray_config.workers or max(1, cluster_cpus() // ray_config.threads)
    dataset = build_dataset(paths, encoder, store.config.chunking, config, ray_config, workers, worker)
    report = IngestReport()
    started = time.perf_counter()
    writer = _Writer(store, encoder.version, config, report, progress)
    # A batch of ``None`` rows is one block as it comes: one packet, taken the moment it is ready.
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
        for rows in unpack(batch):
            writer.take(rows)
    writer.flush()
    report.seconds = time.perf_counter() - started
    return report


def build_dataset(paths: Sequence[str | Path], encoder: Encoder, chunking: ChunkingConfig, config: IngestConfig,
                  ray_config: RayIndexConfig, workers: int, worker: type[EncodeWorker] = EncodeWorker) -> Any:
    """The Ray Dataset of encoded records of ``paths``, in input order (nothing runs until it is read)."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the writer's "later record wins" needs input order
    # Ray Data merges what a task yields into blocks of up to 128 MiB, hands an actor a whole block per
    # task and passes a task's results on only when the task ends: one file would be one task on one
    # actor, written at the very end. With a block size below that of any packet, every packet is a block
    # of its own, hence a task of its own: the actors share any file, and each packet's results reach the
    # writer (in input order) as soon as it is encoded.
    context.target_max_block_size = BLOCK_BYTES
    files = ray.data.from_items([{"path": str(Path(p).resolve()), "file": i} for i, p in enumerate(paths)],
                                override_num_blocks=max(1, len(paths)))
    # Reading takes no CPU slot: it is light, and a slot held by a reader would idle an encoder.
    packets = files.map_batches(read_files, batch_size=1, num_cpus=0,
                                fn_kwargs={"config": config, "block_rows": ray_config.encode_batch})
    # An encoder's name is its registered name or its model directory's path: what a worker loads it by.
    return packets.map_batches(
        worker, batch_size=1, batch_format="numpy", num_cpus=ray_config.threads,
        compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=ray_config.in_flight),
        fn_constructor_kwargs={"encoder": encoder.name, "backend": backend_of(encoder.version),
                               "threads": ray_config.threads, "chunking": chunking})


class _Writer:
    """The one writer: takes encoded rows in input order and writes them in transactions of ``batch_size``."""

    def __init__(self, store: Store, version: str, config: IngestConfig, report: IngestReport,
                 progress: Progress | None) -> None:
        self.store, self.version, self.config, self.report, self.progress = store, version, config, report, progress
        self.pending: dict[str, PreparedItem] = {}
        self.written_ids: set[str] = set()
        self.done: set[int] = set()  # sequence numbers already taken: a row seen twice is written once
        self.topics = NewItemTopics(store)  # as a local ingest does: saved topics reach new items too

    def take(self, rows: dict[str, list[Any]]) -> None:
        """Queue the encoded ``rows`` (one packet's columns), writing whenever ``batch_size`` records are queued."""
        columns = [rows[name] for name in (*COLUMNS, "spans", "vectors", "version")]
        for row in zip(*columns, strict=True):
            seq, kind, item_id, text, metadata, error, spans, vectors, version = row
            if seq in self.done:
                continue
            self.done.add(seq)
            if kind == EMPTY:
                self.report.empty_files.append(text)
            elif kind == ERROR:
                self._bad(pickle.loads(error))
            else:
                self._queue(item_id, text, metadata, spans, vectors, version)

    def _bad(self, error: InputError) -> None:
        if self.config.on_error == "stop":
            self.flush()
            raise StoppedAtError(error, self.report.items)  # type: ignore[arg-type]
        self.report.skipped.append(error)

    def _queue(self, item_id: str, text: str, metadata: str, spans: str, vectors: bytes, version: str) -> None:
        if version != self.version:
            raise ConfigError(f"a Ray worker encoded with weights {version} but the collection holds "
                              f"{self.version}; install the same model on every node.")
        chunks = [Chunk(position, start, end, text[start:end]) for position, start, end in json.loads(spans)]
        matrix = np.frombuffer(vectors, dtype=np.float32).reshape(len(chunks), -1)
        if item_id in self.pending or item_id in self.written_ids:
            self.report.note_replacement(item_id)
            self.pending.pop(item_id, None)  # the later record takes the later place in the batch
        self.pending[item_id] = PreparedItem(Record(item_id, text, json.loads(metadata)), chunks, matrix)
        if len(self.pending) >= self.config.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued records in one transaction."""
        if not self.pending:
            return
        prepared = self.topics.assign(list(self.pending.values()))
        self.report.generation = self.store.put(prepared, replace=True)
        self.report.items += sum(1 for item_id in self.pending if item_id not in self.written_ids)
        self.report.chunks += sum(len(p.chunks) for p in prepared)
        self.written_ids.update(self.pending)
        if self.progress is not None:
            self.progress(len(prepared))
        self.pending.clear()
