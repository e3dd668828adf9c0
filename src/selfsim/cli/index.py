"""``selfsim index``, ``selfsim delete`` and ``selfsim reindex``: writing to a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from selfsim.app import DEFAULT_BACKEND, Backend, Collection, StoppedAtError, check_backend, count_records, load_encoder
from selfsim.app.distributed import index_files_on_ray, ray_session
from selfsim.cli.common import console, errors, print_json, progress_bar, safe, split_values, warn
from selfsim.config import DEFAULT_ENCODER, ChunkingConfig, IngestConfig
from selfsim.errors import ConfigError

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]


def index(
    collection: CollectionArg,
    files: Annotated[list[Path], typer.Argument(help="JSONL, CSV/TSV or Parquet files (optionally .gz).")],
    id_field: Annotated[str, typer.Option(help="Field holding each item's id (items without one are "
                                               "identified by a hash of their text).")] = "id",
    text_field: Annotated[list[str] | None, typer.Option(help="Field(s) holding the text (default: text); several "
                                                              "are joined with a space.")] = None,
    meta_field: Annotated[list[str] | None, typer.Option(help="Metadata fields to keep (default: every "
                                                              "other field).")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the files.")] = "utf-8",
    on_error: Annotated[str, typer.Option(help="stop at the first bad record, or skip bad records "
                                               "and report them.")] = "stop",
    batch_size: Annotated[int, typer.Option(help="Records per transaction.")] = 256,
    encoder: Annotated[str, typer.Option(help="Encoder for a new collection: a registered name or a "
                                              "sentence-transformers directory.")] = DEFAULT_ENCODER,
    index_spec: Annotated[str, typer.Option("--index", help="FAISS index spec for a new collection (Flat, HNSW32, "
                                                            "IVF256,Flat, ...), auto: Flat, HNSW32 or IVF-PQ "
                                                            "by size, re-chosen as the collection grows, or VQ48: "
                                                            "learned 48-byte codes in memory, re-ranked exactly "
                                                            "from the stored vectors.")] = "Flat",
    backend: Annotated[str | None, typer.Option(
        help=f"What runs the encoder: torch, onnx (fp32) or onnx-int8 (default for a new collection: "
             f"{DEFAULT_BACKEND}; an existing collection keeps its own).")] = None,
    reindex_vectors: Annotated[bool, typer.Option(
        "--reindex", help="Re-encode an existing collection's chunks with --backend first, when it was "
                          "built with another backend (vectors of two backends are never mixed).")] = False,
    processes: Annotated[int, typer.Option(
        min=1, help="Encode in this many single-threaded processes, for machines where one process "
                    "does not keep every core busy (on 2 cores it was slower than one; see the README).")] = 1,
    chunk_words: Annotated[int, typer.Option(help="Words per chunk (new collections).")] = ChunkingConfig.max_words,
    chunk_overlap: Annotated[int, typer.Option(help="Words neighbouring chunks share.")] = ChunkingConfig.overlap_words,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Read, chunk and encode on a Ray cluster (needs the ray extra): one started on this "
                      "machine, or the one at --ray-address.")] = False,
    ray_address: Annotated[str | None, typer.Option(
        help="The Ray cluster to join (auto, HOST:PORT, ray://HOST:PORT); implies --ray.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="With --ray: encoder workers, one thread each (default: one per CPU of the "
                    "cluster).")] = None,
) -> None:
    """Index files into COLLECTION (created if needed), replacing items whose id already exists."""
    config = IngestConfig(id_field=id_field, text_fields=tuple(split_values(text_field) or ["text"]),
                          metadata_fields=tuple(split_values(meta_field)) if meta_field else None,
                          encoding=encoding, on_error=on_error, batch_size=batch_size)  # type: ignore[arg-type]
    # A typo, a directory, an unknown format or a missing column fails here, before a model is
    # loaded or a collection made; a run that then stores nothing removes the collection it made.
    Collection.check_files(files, config)
    if backend is not None:
        check_backend(backend)
    with Collection.open_or_create(collection, discard_if_empty=True, encoder=encoder, index=index_spec,
                                   chunking=ChunkingConfig(chunk_words, chunk_overlap),
                                   backend=backend or DEFAULT_BACKEND) as target:
        recorded = target.config.encoder
        if encoder not in (DEFAULT_ENCODER, recorded) and load_encoder(encoder).name != recorded:
            raise ConfigError(f"{collection} was made with the encoder {recorded}; index into a new "
                              "collection to use another encoder.")
        if backend is not None and backend != target.backend:
            if not reindex_vectors:
                raise ConfigError(f"{collection} was built with the {target.backend} backend; pass --reindex to "
                                  f"re-encode its {target.info()['chunks']:,} chunks with {backend}, or leave "
                                  "--backend out.")
            _re_encode(target, backend, processes)  # type: ignore[arg-type]
        counts = [count_records(f) for f in files]
        total = sum(c for c in counts if c is not None) if all(c is not None for c in counts) else None
        with progress_bar() as bar:
            task = bar.add_task("indexing", total=total)
            try:
                if ray or ray_address is not None:
                    with ray_session(ray_address or "local"):
                        report = index_files_on_ray(target, files, config, workers=workers,
                                                    progress=lambda n: bar.advance(task, n))
                else:
                    report = target.index_files(files, config, progress=lambda n: bar.advance(task, n),
                                                processes=processes)
            except StoppedAtError:
                bar.stop()
                raise
            except KeyboardInterrupt:
                bar.stop()
                errors.print("[yellow]interrupted[/]: every batch written before Ctrl-C is stored.")
                raise typer.Exit(130) from None
        total_items = len(target)
    for name in report.empty_files:
        warn(f"{name} holds no records")
    if target.discarded:
        warn(f"nothing was indexed, so no collection was made at {collection}")
    if report.replaced:
        shown = ", ".join(repr(i) for i in report.replaced_ids[:5]) + (", ..." if report.replaced > 5 else "")
        warn(f"{report.replaced:,} records replaced earlier records with the same id ({shown})")
    if json_output:
        print_json({"items": report.items, "chunks": report.chunks, "seconds": round(report.seconds, 3),
                    "skipped": [str(e) for e in report.skipped], "replaced": report.replaced,
                    "replaced_ids": report.replaced_ids, "empty_files": report.empty_files,
                    "collection": str(collection), "discarded": target.discarded, "total_items": total_items})
        return
    if not target.discarded:
        console.print(f"indexed [bold]{report.items:,}[/] items ({report.chunks:,} chunks) in "
                      f"{report.seconds:.1f} s ({report.items_per_second:,.1f} items/s); "
                      f"{total_items:,} items in {safe(collection)}")
    if report.skipped:
        errors.print(f"[yellow]skipped {len(report.skipped):,} bad records[/]:")
        for problem in report.skipped[:10]:
            errors.print(f"  {safe(problem)}")
        if len(report.skipped) > 10:
            errors.print(f"  ... and {len(report.skipped) - 10:,} more (use --json to list them all)")


def delete(
    collection: CollectionArg,
    ids: Annotated[list[str], typer.Argument(help="Ids of the items to delete.")],
) -> None:
    """Delete items by id (in one transaction)."""
    with Collection.open(collection) as target:
        missing = target.delete(ids)
        deleted = len(set(ids)) - len(set(missing))
        console.print(f"deleted {deleted:,} items; {len(target):,} left in {safe(collection)}")
        if missing:
            errors.print(f"[yellow]not found[/]: {safe(', '.join(missing[:20]))}")


def reindex(
    collection: CollectionArg,
    index_spec: Annotated[str | None, typer.Option(
        "--index", help="New index spec, e.g. HNSW32, auto, or VQ48 (learned codes, re-ranked exactly).")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Re-encode every chunk with the collection's model run by this backend.")] = None,
    processes: Annotated[int, typer.Option(
        min=1, help="Re-encode in this many single-threaded processes.")] = 1,
) -> None:
    """Rebuild COLLECTION's vector index with another FAISS spec (vectors are not recomputed), or re-encode
    its chunks with another backend."""
    if index_spec is None and backend is None:
        raise ConfigError("say what to change: --index SPEC (a new vector index) or --backend NAME (re-encode).")
    if backend is not None:
        check_backend(backend)
    with Collection.open(collection) as target:
        if backend is not None and backend != target.backend:
            _re_encode(target, backend, processes)  # type: ignore[arg-type]
        if index_spec is not None:
            target.set_index(index_spec)
        info = target.info()
        console.print(f"vector index of {safe(collection)} is now {safe(info['index'])} ({info['chunks']:,} vectors); "
                      f"backend {info['backend']}")


def _re_encode(target: Collection, backend: Backend, processes: int = 1) -> None:
    """Re-encode ``target``'s chunks with ``backend``, with a progress bar."""
    with progress_bar("chunks") as bar:
        task = bar.add_task(f"re-encoding with {backend}", total=target.info()["chunks"])

        def advance(_: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = target.set_backend(backend, advance, processes)
    console.print(f"re-encoded {count:,} chunks with the {backend} backend")
