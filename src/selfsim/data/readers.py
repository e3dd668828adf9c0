"""Read records from JSONL, CSV/TSV and Parquet files, with errors that name the file and line.

Readers yield ``(location, Record | InputError)`` pairs and never decide what
to do about a bad record: the caller applies the error policy. Problems with
the file as a whole (missing, a directory, unknown format, not gzip although
named ``.gz``, no text column, a column named twice) raise at once, and
:func:`check_input_file` finds them before anything is written.

Damage part-way through a file (a ``.gz`` cut short, a Parquet row group that
cannot be decoded) is reported once, as a bad record "after line N", and ends
the file: the records before it are read. The building blocks here
(:func:`decode_lines`, :func:`jsonl_objects`, :func:`delimited_rows`,
:func:`parquet_rows`) serve the interaction and label readers too, so every
file a user gives is read with the same care.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import decimal
import gzip
import hashlib
import io
import json
import math
import numbers
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from selfsim.config import IngestConfig
from selfsim.data.records import ID_ADVICE, Record, as_id, id_problem
from selfsim.errors import ConfigError, InputError, NotFoundError, RecordError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet"}

# csv's default field limit (128 KiB) refuses ordinary long documents; this one only stops a field
# that would not fit in memory comfortably (a lone quote that swallowed a whole file, say).
CSV_FIELD_LIMIT = 128 * 1024 * 1024
# Deeper lists and objects than this are not data anyone filters on, and past ~1,000 levels Python's
# JSON reader, the metadata encoder and SQLite's JSON functions all fail.
MAX_NESTING = 100
# Raised while decompressing: EOFError for a .gz cut short, OSError (BadGzipFile) for bad data or a
# failing disk, zlib.error for a corrupt deflate stream.
DAMAGE_ERRORS = (EOFError, OSError, zlib.error)
SKIP_ADVICE = "fix it or pass --on-error skip to leave it out"
_SURROGATE = re.compile("[\\ud800-\\udfff]")

ReadResult = tuple[str, Record | InputError]
Rows = Iterator[tuple[str, dict[str, Any] | InputError]]


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


def check_file(path: Path, what: str = "file") -> None:
    """Raise the one-sentence error for a ``path`` that is not a readable file (missing, a directory)."""
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a {what}; name the files in it instead.")
    if not path.exists():
        raise NotFoundError(f"{path} does not exist; check the path.")
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
    except OSError as error:
        raise InputError(f"{path} cannot be read ({error.strerror}); check that it is a file you may read.") from None
    # An empty .gz is an empty file; anything else must start with gzip's magic bytes.
    if path.suffix.lower() == ".gz" and head and head != b"\x1f\x8b":
        raise RecordError(path.name, "", "is not gzip data although its name ends in .gz",
                          "remove the .gz suffix or compress the file with gzip")


def check_input_file(path: str | Path, config: IngestConfig = IngestConfig()) -> None:
    """Raise now whatever would stop ``path`` being read at all, so a run can fail before it writes.

    Checks that it is a readable file of a known format (a ``.gz`` holding gzip data) and, for
    CSV/TSV and Parquet, that the text column is there and no column is named twice.
    """
    path = Path(path)
    check_file(path)
    fmt = detect_format(path)
    check_columns(path, fmt, lambda columns: _require_text_column(path, columns, config),
                  lambda: _delimited_for(path, config, fmt))


def check_columns(path: Path, fmt: str, check: Callable[[Sequence[str]], None], rows: Callable[[], Rows]) -> None:
    """Run the column checks of a Parquet (``check`` on its schema) or CSV/TSV file (``rows``, a reader
    whose header runs them) without reading its records; other formats have no columns to check."""
    if fmt == "parquet":
        check(open_parquet(path).schema_arrow.names)
    elif fmt in ("csv", "tsv"):
        header = rows()
        try:
            next(header, None)  # reading the header runs the column checks
        finally:
            header.close()


def read_records(path: str | Path, config: IngestConfig = IngestConfig()) -> Iterator[ReadResult]:
    """Yield every record of ``path`` (or the error that stopped it being one)."""
    path = Path(path)
    check_file(path)
    fmt = detect_format(path)
    if fmt == "jsonl":
        yield from _records(path, jsonl_objects(path, config.encoding, '{"id": 1, "text": "..."}'), config)
    elif fmt == "parquet":
        yield from _records(path, parquet_rows(path, lambda columns: _require_text_column(path, columns, config)),
                            config)
    else:
        yield from _read_delimited(path, config, fmt)


def make_record(raw: dict[str, Any], source: str, location: str, config: IngestConfig) -> Record:
    """Turn one raw row into a :class:`Record`, or raise the :class:`InputError` saying why not.

    Text fields hold strings (numbers count as their JSON text, lists are joined); the id
    follows the rule of :mod:`selfsim.data.records`, and a record with no id field gets a hash
    of its text. ``raw`` must have passed :func:`value_problem` (the readers here see to it).
    """
    present = [f for f in config.text_fields if f in raw and raw[f] is not None]
    if not present:
        names = " or ".join(repr(f) for f in config.text_fields)
        raise RecordError(source, location, f"has no {names} field",
                         "name the field that holds the text with --text-field")
    parts = []
    for name in present:
        part = _text_of(raw[name])
        if part is None:
            raise RecordError(source, location, f"has a {name!r} field that holds {_kind(raw[name])} instead of text",
                              "write the text as a string or name the field that holds it with --text-field")
        parts.append(part)
    text = " ".join(p.strip() for p in parts if p.strip())
    if not text:
        raise RecordError(source, location, f"has an empty {present[0]!r} field",
                         "give it some text or pass --on-error skip to leave it out")
    if config.id_field in raw:
        problem = id_problem(raw[config.id_field])
        if problem is not None:
            raise RecordError(source, location, f"has an id that {problem}",
                              f"{ID_ADVICE}, or pass --on-error skip to leave it out")
        item_id = as_id(raw[config.id_field])
    else:
        # A record without an id is addressed by its content, so indexing the same file twice
        # updates rather than duplicates it.
        item_id = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    used = {config.id_field, *config.text_fields}
    keys = config.metadata_fields if config.metadata_fields is not None else raw.keys()
    metadata = {k: as_json(raw[k]) for k in keys if k in raw and k not in used and raw[k] is not None}
    return Record(item_id, text, metadata)


def value_problem(value: Any) -> str | None:
    """Why a record's values cannot be stored (nesting past :data:`MAX_NESTING`, a lone surrogate), or None.

    Walks without recursion, so a hostile depth cannot overflow the stack here.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            bad = _SURROGATE.search(item)
            if bad is not None:
                return (f"holds a lone surrogate (U+{ord(bad.group()):04X}), which is not a character and cannot "
                        "be stored")
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_NESTING:
                return f"nests lists or objects more than {MAX_NESTING} levels deep"
            values = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in values)
    return None


def _text_of(value: Any) -> str | None:
    """The text a field holds, or None when it holds something that is not text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value)) if math.isfinite(float(value)) else None
    if isinstance(value, (list, tuple)):
        parts = [_text_of(v) for v in value if v is not None]
        return None if any(p is None for p in parts) else " ".join(p for p in parts if p)  # type: ignore[misc]
    return None


def _kind(value: Any) -> str:
    """How a JSON user would name the type of ``value``."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list holding something other than text"
    if isinstance(value, numbers.Real):
        return str(value)  # the non-finite numbers, nan and inf
    return f"a {type(value).__name__}"


def as_json(value: Any) -> Any:
    """Coerce a value from CSV, JSON, Arrow or Python code into something JSON can hold."""
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (float, decimal.Decimal)) or isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None  # NaN and infinities have no JSON form
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return as_json(value.item())
    return str(value)


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


_UTF_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
             (codecs.BOM_UTF16_BE, "utf-16"))


def _file_encoding(path: Path, encoding: str) -> str:
    """``encoding``, unless it is UTF-8 and the file starts with a UTF-16/32 byte-order mark, which settles it."""
    try:
        canonical = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"{encoding!r} is not a text encoding Python knows; use e.g. utf-8 or latin-1.") from None
    if canonical != "utf-8":
        return encoding
    try:
        with _open_binary(path) as handle:
            head = handle.read(4)
    except DAMAGE_ERRORS:
        return encoding  # the read itself reports the damage, with the line it happened at
    return next((name for bom, name in _UTF_BOMS if head.startswith(bom)), encoding)


def damage(path: Path, lines_read: int, error: BaseException, unit: str = "line") -> RecordError:
    """The bad record that stands for damage part-way through ``path`` (the rest of it cannot be read)."""
    location = f"after {unit} {lines_read}" if lines_read else f"{unit} 1"
    if isinstance(error, EOFError):
        problem = "is cut short: the compressed data ends before its end marker"
    else:
        problem = f"is damaged ({error})"
    return RecordError(path.name, location, problem, "get a complete copy of the file to read the rest")


def decode_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str | InputError]]:
    """Each physical line, decoded, or the error it caused; damage to the file ends it with one error.

    Lines are split on bytes and decoded one by one, so a bad byte costs one line and the
    error can name it. Encodings whose newline is not the byte 0x0a (UTF-16, UTF-32) are
    decoded as a whole stream instead; a UTF-16/32 byte-order mark picks that encoding when
    UTF-8 was assumed. A UTF-8 byte-order mark is dropped.
    """
    encoding = _file_encoding(path, encoding)
    if "\n".encode(encoding) != b"\n":
        yield from _decode_stream(path, encoding)
        return
    first_encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    with _open_binary(path) as handle:
        number = 0
        lines = iter(handle)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except DAMAGE_ERRORS as error:
                yield number + 1, damage(path, number, error)
                return
            number += 1
            try:
                yield number, raw.decode(first_encoding if number == 1 else encoding)
            except UnicodeDecodeError as error:
                yield number, RecordError(
                    path.name, f"line {number}",
                    f"is not valid {encoding} (byte 0x{raw[error.start]:02x} at column {error.start + 1})",
                    "re-save the file as UTF-8 or name its encoding with --encoding")


def _decode_stream(path: Path, encoding: str) -> Iterator[tuple[int, str | InputError]]:
    with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as handle:
        number = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as error:  # a stream decoder cannot find its footing again
                yield number + 1, RecordError(path.name, f"after line {number}",
                                              f"is not valid {encoding} ({error.reason})",
                                              "re-save the file as UTF-8 or name its encoding with --encoding")
                return
            except DAMAGE_ERRORS as error:
                yield number + 1, damage(path, number, error)
                return
            if not line:
                return
            number += 1
            yield number, line


def json_object(line: str, path: Path, location: str, example: str) -> dict[str, Any] | InputError:
    """One JSONL line as a dict, or the :class:`InputError` that says why it is not one (``example``: a good line)."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        return RecordError(path.name, location, f"is not valid JSON ({error.msg} at column {error.colno})",
                           SKIP_ADVICE)
    except RecursionError:
        return RecordError(path.name, location, f"nests lists or objects more than {MAX_NESTING} levels deep",
                           SKIP_ADVICE)
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        return RecordError(path.name, location, "holds an integer with too many digits to read", SKIP_ADVICE)
    if not isinstance(raw, dict):
        return RecordError(path.name, location, "is not a JSON object", f"write one object per line, such as {example}")
    problem = value_problem(raw)
    if problem is not None:
        return RecordError(path.name, location, problem, SKIP_ADVICE)
    return raw


def jsonl_objects(path: Path, encoding: str, example: str) -> Rows:
    """Each non-blank line of a JSONL file as ``(location, dict)``, or ``(location, error)``."""
    for number, line in decode_lines(path, encoding):
        if isinstance(line, InputError):
            yield line.location if isinstance(line, RecordError) else f"line {number}", line
            continue
        if not line.strip():
            continue
        location = f"line {number}"
        yield location, json_object(line, path, location, example)


def read_jsonl(path: str | Path, example: str, what: str = "file", advice: str | None = None,
               encoding: str = "utf-8") -> Iterator[tuple[str, dict[str, Any]]]:
    """Each JSON object of a JSONL file (``.gz`` too) as ``(location, dict)``, for readers that stop at the
    first bad line: a missing file or a bad line raises the error ``selfsim index`` reports for it (one sentence
    naming the file and the line). ``advice`` replaces the advice to skip bad lines, for readers that cannot."""
    path = Path(path)
    check_file(path, what)
    for location, row in jsonl_objects(path, encoding, example):
        if isinstance(row, InputError):
            if advice is not None and isinstance(row, RecordError) and row.advice == SKIP_ADVICE:
                raise RecordError(row.source, row.location, row.problem, advice)
            raise row
        yield location, row


def _records(path: Path, rows: Rows, config: IngestConfig) -> Iterator[ReadResult]:
    """Raw rows made into records; a row that cannot be one yields its error instead."""
    for location, raw in rows:
        if isinstance(raw, InputError):
            yield location, raw
            continue
        try:
            yield location, make_record(raw, path.name, location, config)
        except InputError as error:
            yield location, error


def _delimited_for(path: Path, config: IngestConfig, fmt: str) -> Rows:
    return delimited_rows(path, config.encoding, "\t" if fmt == "tsv" else ",",
                          check_columns=lambda columns: _require_text_column(path, columns, config))


def _require_text_column(path: Path, columns: Iterable[str], config: IngestConfig) -> None:
    columns = list(columns)
    if not any(f in columns for f in config.text_fields):
        names = " or ".join(repr(f) for f in config.text_fields)
        raise RecordError(path.name, "", f"has no {names} column (its columns are {', '.join(columns)})",
                         "name the text column with --text-field")
    _require_distinct(path, columns)


def _require_distinct(path: Path, columns: list[str]) -> None:
    seen: set[str] = set()
    for name in columns:
        if name and name in seen:
            raise RecordError(path.name, "line 1", f"names the column {name!r} twice",
                              "give every column its own name")
        seen.add(name)


def _csv_problem(error: csv.Error) -> tuple[str, str]:
    """``(problem, advice)`` for a row the csv module refused, in the user's terms."""
    message = str(error)
    if "unexpected end of data" in message:
        return ("opens a quote that is never closed, so the rest of the file became one field",
                'close the quote (write a quote inside a field as "")')
    if "field larger than field limit" in message:
        return (f"has a field longer than {csv.field_size_limit():,} characters",
                "split the text into smaller records or pass --on-error skip to leave it out")
    if "new-line character" in message:
        return ("has a carriage return (\\r) inside an unquoted field",
                "save the file with \\n or \\r\\n line endings, or quote that field")
    return f"is not valid CSV ({message})", SKIP_ADVICE


def delimited_rows(path: Path, encoding: str, delimiter: str, quoting: int | None = None,
                   check_columns: Callable[[list[str]], None] | None = None) -> Rows:
    """Each non-blank row of a CSV/TSV file as ``(location, {column: value})``, or ``(location, error)``.

    The header is read first and given to ``check_columns`` (and refused when it names a column
    twice); an empty file yields nothing. Header names are stripped of spaces. A short row has ""
    in its missing columns; a row with more non-empty values than columns is a bad record (usually
    a delimiter inside an unquoted field). ``quoting`` defaults to none for TSV (a quote is text).
    """
    csv.field_size_limit(CSV_FIELD_LIMIT)
    pending: list[InputError] = []

    def good_lines() -> Iterable[str]:
        for _, line in decode_lines(path, encoding):
            if isinstance(line, InputError):
                pending.append(line)
                yield "\n"  # keeps csv's line count in step; the blank row is dropped below
            else:
                yield line

    if quoting is None:
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # strict: a quote left open at the end of the file is an error, not a field that silently
    # swallowed every line after it.
    reader = csv.reader(good_lines(), delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        problem, advice = _csv_problem(error)
        raise RecordError(path.name, "line 1", problem, advice) from None
    if pending:  # without its header nothing in the file can be read
        raise pending[0]
    if header is None:
        return
    columns = [name.strip() for name in header]
    _require_distinct(path, columns)
    if check_columns is not None:
        check_columns(columns)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            yield from ((e.location, e) for e in _drain(pending))
            problem, advice = _csv_problem(error)
            yield f"line {start}", RecordError(path.name, f"line {start}", problem, advice)
            continue
        yield from ((e.location, e) for e in _drain(pending))
        if not any(v.strip() for v in values):
            continue
        location = f"line {reader.line_num}"
        if len(values) > len(columns) and any(v.strip() for v in values[len(columns):]):
            fix = "remove the extra tabs" if delimiter == "\t" else f'quote fields that hold "{delimiter}"'
            yield location, RecordError(path.name, location, f"has {len(values)} fields but the header names "
                                        f"{len(columns)} columns", f"{fix}, or pass --on-error skip to leave it out")
            continue
        yield location, dict(zip(columns, values + [""] * (len(columns) - len(values)), strict=False))
    yield from ((e.location, e) for e in _drain(pending))


def _drain(pending: list[InputError]) -> list[RecordError]:
    errors = [e for e in pending if isinstance(e, RecordError)]
    pending.clear()
    return errors


def _read_delimited(path: Path, config: IngestConfig, fmt: str) -> Iterator[ReadResult]:
    for location, row in _delimited_for(path, config, fmt):
        if isinstance(row, InputError):
            yield location, row
            continue
        raw = {k: _parse_cell(v) for k, v in row.items() if k and v != ""}
        if config.id_field in row:
            raw[config.id_field] = row[config.id_field]  # ids stay strings, "007" is not 7; "" is a bad id
        for name in config.text_fields:
            if name in row:
                raw[name] = row[name]
        try:
            yield location, make_record(raw, path.name, location, config)
        except InputError as error:
            yield location, error


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


def parquet_rows(path: Path, check_columns: Callable[[list[str]], None] | None = None,
                 batch_size: int = 4096) -> Rows:
    """Each row of a Parquet file as ``(location, dict)``, or ``(location, error)``; damage ends the file."""
    parquet = open_parquet(path)
    columns = list(parquet.schema_arrow.names)
    _require_distinct(path, columns)
    if check_columns is not None:
        check_columns(columns)
    number = 0
    batches = parquet.iter_batches(batch_size=batch_size)
    while True:
        try:
            rows = next(batches).to_pylist()
        except StopIteration:
            return
        except Exception as error:  # pyarrow raises several types for a damaged row group
            yield f"after row {number}", damage(path, number, error, unit="row")
            return
        for raw in rows:
            number += 1
            location = f"row {number}"
            problem = value_problem(raw)
            yield location, raw if problem is None else RecordError(path.name, location, problem, SKIP_ADVICE)


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
