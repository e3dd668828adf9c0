"""Read records from JSONL, CSV/TSV and Parquet files, with errors that name the file and line.

Readers yield ``(location, Record | InputError)`` pairs and never decide what
to do about a bad record: the caller applies the error policy. Problems with
the file as a whole (missing, unknown format, no text column) raise at once.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import gzip
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from selfsim.config import IngestConfig
from selfsim.data.records import Record
from selfsim.errors import ConfigError, InputError, NotFoundError, RecordError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet"}

ReadResult = tuple[str, Record | InputError]


def detect_format(path: Path) -> str:
    """The reader a file needs, from its extension (``.gz`` is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise ConfigError(f"cannot read {path.name}: use a .jsonl, .csv, .tsv or .parquet file "
                          "(optionally gzipped as .gz).")
    return fmt


def read_records(path: str | Path, config: IngestConfig = IngestConfig()) -> Iterator[ReadResult]:
    """Yield every record of ``path`` (or the error that stopped it being one)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; check the path.")
    fmt = detect_format(path)
    if fmt == "jsonl":
        yield from _read_jsonl(path, config)
    elif fmt == "parquet":
        yield from _read_parquet(path, config)
    else:
        yield from _read_delimited(path, config, "\t" if fmt == "tsv" else ",")


def make_record(raw: dict[str, Any], source: str, location: str, config: IngestConfig) -> Record:
    """Turn one raw row into a :class:`Record`, or raise the :class:`InputError` saying why not."""
    present = [f for f in config.text_fields if f in raw and raw[f] is not None]
    if not present:
        names = " or ".join(repr(f) for f in config.text_fields)
        raise RecordError(source, location, f"has no {names} field",
                         "name the field that holds the text with --text-field")
    parts = [_as_text(raw[f]) for f in present]
    text = " ".join(p.strip() for p in parts if p.strip())
    if not text:
        raise RecordError(source, location, f"has an empty {present[0]!r} field",
                         "give it some text or pass --on-error skip to leave it out")
    if config.id_field in raw and raw[config.id_field] not in (None, ""):
        item_id = _as_text(raw[config.id_field]).strip()
    else:
        # A record without an id is addressed by its content, so indexing the same file twice
        # updates rather than duplicates it.
        item_id = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    used = {config.id_field, *config.text_fields}
    keys = config.metadata_fields if config.metadata_fields is not None else raw.keys()
    metadata = {k: _as_json(raw[k]) for k in keys if k in raw and k not in used and raw[k] is not None}
    return Record(item_id, text, metadata)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return " ".join(_as_text(v) for v in value)
    return str(value)


def _as_json(value: Any) -> Any:
    """Coerce a value from CSV, JSON or Arrow into something JSON can hold."""
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN and infinities have no JSON form
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    return str(value)


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _decode_lines(path: Path, config: IngestConfig) -> Iterator[tuple[int, str | InputError]]:
    """Each physical line, decoded, or the encoding error it caused.

    Lines are split on bytes and decoded one by one, so a bad byte costs one line and the
    error can name it. Encodings whose newline is not the byte 0x0a (UTF-16, UTF-32) are
    decoded as a whole stream instead. A UTF-8 byte-order mark is dropped.
    """
    try:
        newline = "\n".encode(config.encoding)
    except LookupError:
        raise ConfigError(f"{config.encoding!r} is not a text encoding Python knows; use e.g. utf-8 or "
                          "latin-1.") from None
    if newline != b"\n":
        yield from _decode_stream(path, config)
        return
    first_encoding = "utf-8-sig" if config.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else None
    with _open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode(first_encoding if number == 1 and first_encoding else config.encoding)
            except UnicodeDecodeError as error:
                yield number, RecordError(
                    path.name, f"line {number}",
                    f"is not valid {config.encoding} (byte 0x{raw[error.start]:02x} at column {error.start + 1})",
                    "re-save the file as UTF-8 or name its encoding with --encoding")
            except gzip.BadGzipFile as error:
                raise RecordError(path.name, "", f"is not a readable gzip file ({error})",
                                 "check the file or remove its .gz suffix") from error


def _decode_stream(path: Path, config: IngestConfig) -> Iterator[tuple[int, str | InputError]]:
    with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding=config.encoding, newline="") as handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):  # noqa: B007 - number is used after the loop
                yield number, line
        except UnicodeDecodeError as error:
            raise RecordError(path.name, f"after line {number}", f"is not valid {config.encoding} ({error.reason})",
                             "re-save the file as UTF-8 or name its encoding with --encoding") from None


def json_object(line: str, path: Path, location: str, example: str) -> dict[str, Any] | InputError:
    """One JSONL line as a dict, or the :class:`InputError` that says why it is not one (``example``: a good line)."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        return RecordError(path.name, location, f"is not valid JSON ({error.msg} at column {error.colno})",
                          "fix the line or pass --on-error skip to leave it out")
    if not isinstance(raw, dict):
        return RecordError(path.name, location, "is not a JSON object", f"write one object per line, such as {example}")
    return raw


def _read_jsonl(path: Path, config: IngestConfig) -> Iterator[ReadResult]:
    for number, line in _decode_lines(path, config):
        location = f"line {number}"
        if isinstance(line, InputError):
            yield location, line
            continue
        if not line.strip():
            continue
        raw = json_object(line, path, location, '{"id": 1, "text": "..."}')
        if isinstance(raw, InputError):
            yield location, raw
            continue
        try:
            yield location, make_record(raw, path.name, location, config)
        except InputError as error:
            yield location, error


def _read_delimited(path: Path, config: IngestConfig, delimiter: str) -> Iterator[ReadResult]:
    pending: list[InputError] = []

    def good_lines() -> Iterable[str]:
        for _, line in _decode_lines(path, config):
            if isinstance(line, InputError):
                pending.append(line)
                yield "\n"  # keeps csv's line count in step; the blank row is dropped below
            else:
                yield line

    # TSV has no quoting: a quote character is part of the text.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.DictReader(good_lines(), delimiter=delimiter, quoting=quoting)
    columns = reader.fieldnames or []
    if not pending and not any(f in columns for f in config.text_fields):
        names = " or ".join(repr(f) for f in config.text_fields)
        raise RecordError(path.name, "", f"has no {names} column (its columns are {', '.join(columns)})",
                         "name the text column with --text-field")
    for row in reader:
        while pending:
            error = pending.pop(0)
            yield error.location, error
        location = f"line {reader.line_num}"
        if not any(v for v in row.values() if isinstance(v, str) and v.strip()):
            continue
        raw = {k: _parse_cell(v) for k, v in row.items() if k is not None and v not in (None, "")}
        if config.id_field in raw:
            raw[config.id_field] = row[config.id_field]  # ids stay strings, "007" is not 7
        for name in config.text_fields:
            if name in row and row[name] is not None:
                raw[name] = row[name]
        try:
            yield location, make_record(raw, path.name, location, config)
        except InputError as error:
            yield location, error
    for error in pending:
        yield error.location, error


_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def _parse_cell(value: str) -> Any:
    """CSV cells are all text; numbers and booleans are restored so filters can compare them.

    Only plain decimal numbers count: "NaN", "inf" or "1_000" stay text.
    """
    stripped = value.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INTEGER.match(stripped):
        return int(stripped)
    if _DECIMAL.match(stripped):
        number = float(stripped)
        return number if math.isfinite(number) else value
    return value


def open_parquet(path: Path) -> Any:
    """A ``pyarrow.parquet.ParquetFile``; raises :class:`InputError` when the file cannot be read as one."""
    import pyarrow.parquet as pq  # only parquet users pay for the import

    try:
        return pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise RecordError(path.name, "", f"is not a readable Parquet file ({error})",
                         "check that the file was written completely") from error


def _read_parquet(path: Path, config: IngestConfig) -> Iterator[ReadResult]:
    parquet = open_parquet(path)
    columns = parquet.schema_arrow.names
    if not any(f in columns for f in config.text_fields):
        names = " or ".join(repr(f) for f in config.text_fields)
        raise RecordError(path.name, "", f"has no {names} column (its columns are {', '.join(columns)})",
                         "name the text column with --text-field")
    number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for raw in batch.to_pylist():
            number += 1
            location = f"row {number}"
            try:
                yield location, make_record(raw, path.name, location, config)
            except InputError as error:
                yield location, error



def count_records(path: str | Path) -> int | None:
    """A quick upper bound on the records in ``path`` (lines, or Parquet rows), for progress bars."""
    path = Path(path)
    try:
        fmt = detect_format(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with _open_binary(path) as handle:
            lines = sum(1 for line in handle if line.strip())
        return lines - 1 if fmt in ("csv", "tsv") else lines
    except Exception:  # the real read reports any problem properly
        return None
