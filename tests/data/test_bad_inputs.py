"""The bad-input suite: broken and hostile files through every reader ``selfsim index`` uses, in both error modes.

Each kind builds one file for the formats it applies to (JSONL, CSV, TSV, Parquet and their gzipped
forms) and says what must happen: the good records are stored (``ok``), the file holds no records
(``empty``), the file is refused as a whole before anything is made (``whole``), one record is bad
(``bad``: stop keeps the records before it, skip keeps the rest and reports it), or a ``.gz`` is cut
short (``damaged``: the records before the damage are kept, the damage is reported once).

Whatever the file, the run follows the path of ``selfsim index`` (check the files, open or create
the collection, index, close) and must end in stored records or a ``SelfsimError`` whose message is
one sentence naming the file and the line or row (no other exception, so no traceback), and a first
run that stores nothing leaves no collection behind. A tiny hashing encoder keeps the suite fast.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfsim import Collection, IngestConfig
from selfsim.data import readers
from selfsim.data.interactions import InteractionReadConfig, collect_interactions
from selfsim.data.label_files import read_label_file
from selfsim.errors import InputError, SelfsimError
from selfsim.tasks.ingest import StoppedAtError


class TinyEncoder:
    """Bag of hashed words in 16 dimensions: deterministic, instant, and enough to store and search."""

    name = "tiny-hash-test"
    version = "1"
    dim = 16

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split()[:64]:
                vectors[row, zlib.crc32(word.encode("utf-8", "surrogatepass")) % self.dim] += 1.0
            vectors[row, 0] += 1e-3  # never the zero vector
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if progress is not None:
            progress(len(texts))
        return vectors


TINY = TinyEncoder()
GOOD = [("g1", "Good record about sailing boats"), ("g2", "Another record on rowing boats"),
        ("g3", "A third record on canoes and kayaks")]
GOOD_IDS = frozenset(i for i, _ in GOOD)
FORMATS = ["jsonl", "csv", "tsv", "parquet", "jsonl.gz", "csv.gz", "tsv.gz"]
HEADERS = {"csv": b"id,text\n", "tsv": b"id\ttext\n"}
# Where the third record (the one a kind makes bad) sits in each format.
THIRD = {"jsonl": "line 3", "csv": "line 4", "tsv": "line 4", "parquet": "row 3"}


@dataclass(frozen=True)
class Expect:
    """What a kind must lead to (see the module docstring); ``stored`` is for skip, ``before`` for stop."""

    outcome: str
    stored: frozenset[str] = GOOD_IDS
    before: frozenset[str] = frozenset({"g1", "g2"})
    where: str = ""


Content = bytes | pa.Table
Case = tuple[Content, Expect]


def _base(fmt: str) -> str:
    return fmt.removesuffix(".gz")


def _line(fmt: str, item_id: str, text: str) -> bytes:
    if fmt == "jsonl":
        return json.dumps({"id": item_id, "text": text}, ensure_ascii=False).encode() + b"\n"
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([item_id, text])
        return buffer.getvalue().encode()
    return f"{item_id}\t{text}\n".encode()


def _text_file(fmt: str, middle: bytes | None = None, rows: Sequence[tuple[str, str]] = GOOD) -> bytes:
    """The rows of ``fmt`` (with its header) and, when given, the raw line ``middle`` as the third record."""
    body = [_line(fmt, item_id, text) for item_id, text in rows]
    if middle is not None:
        body.insert(2, middle)
    return HEADERS.get(fmt, b"") + b"".join(body)


def _table(ids: list[Any], texts: list[Any] | None = None, **columns: Any) -> pa.Table:
    return pa.table({"id": ids, "text": texts or [t for _, t in GOOD][:len(ids)], **columns})


def _bad_record(fmt: str, item_id: Any, text: Any = "A record whose id is bad") -> Case | None:
    """A file whose third record has this id (or text), in each format that can hold the value."""
    base = _base(fmt)
    expect = Expect("bad", where=THIRD[base])
    if base == "parquet":
        try:
            column = pa.array([i for i, _ in GOOD[:2]] + [item_id] + [GOOD[2][0]])
            texts = pa.array([t for _, t in GOOD[:2]] + [text] + [GOOD[2][1]])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None  # a Parquet column has one type; this value cannot sit among string ids
        return pa.table({"id": column, "text": texts}), expect
    if base == "jsonl":
        return _text_file(base, json.dumps({"id": item_id, "text": text}).encode() + b"\n"), expect
    if not isinstance(item_id, str):
        return None  # a CSV cell is always text
    return _text_file(base, _line(base, item_id, text)), expect


def _ok(content: Content, ids: frozenset[str] = GOOD_IDS) -> Case:
    return content, Expect("ok", stored=ids)


def _plain_text_kind(build: Callable[[str], Case | None], gz: bool = False) -> Callable[[str], Case | None]:
    """A kind for the text formats only (and their gzipped forms when ``gz``)."""
    def kind(fmt: str) -> Case | None:
        if _base(fmt) == "parquet" or (fmt.endswith(".gz") and not gz):
            return None
        return build(_base(fmt))
    return kind


def _gz_only(build: Callable[[str], Case]) -> Callable[[str], Case | None]:
    return lambda fmt: build(_base(fmt)) if fmt.endswith(".gz") else None


def _only(formats: Sequence[str], build: Callable[[str], Case | None]) -> Callable[[str], Case | None]:
    return lambda fmt: build(fmt) if fmt in formats else None


def _deep(depth: int) -> bytes:
    return b'{"id": "deep", "text": "x", "nested": ' + b"[" * depth + b"]" * depth + b"}\n"


def _truncated_gz(fmt: str) -> Case:
    rows = [(f"r{i:03d}", f"record number {i} about boats and {i * 7 % 13} oars") for i in range(400)]
    packed = gzip.compress(_text_file(fmt, rows=rows))
    return b"GZ" + packed[:len(packed) * 3 // 5], Expect("damaged")


def _corrupt_gz(fmt: str) -> Case:
    rows = [(f"r{i:03d}", f"record number {i} about boats") for i in range(400)]
    packed = bytearray(gzip.compress(_text_file(fmt, rows=rows)))
    for offset in range(len(packed) // 2, len(packed) // 2 + 8):
        packed[offset] ^= 0x5A
    return b"GZ" + bytes(packed), Expect("any")


def _long_text(size: int) -> Callable[[str], Case | None]:
    word = "abcdefghij" * 5
    text = " ".join([word] * (size // (len(word) + 1)))

    def build(fmt: str) -> Case | None:
        if fmt == "parquet":
            return _ok(_table(["g1", "g2", "long"], [GOOD[0][1], GOOD[1][1], text]), frozenset({"g1", "g2", "long"}))
        return _ok(_text_file(_base(fmt), _line(_base(fmt), "long", text)), GOOD_IDS | {"long"})
    return build


def _duplicate_header(fmt: str) -> Case | None:
    if fmt == "parquet":
        table = pa.Table.from_arrays([pa.array(["g1"]), pa.array(["a"]), pa.array(["b"])], names=["id", "text", "text"])
        return table, Expect("whole")
    return HEADERS[fmt].replace(b"\n", (b"," if fmt == "csv" else b"\t") + b"text\n") + b"g1,a,b\n", Expect("whole")


KINDS: dict[str, Callable[[str], Case | None]] = {
    # encodings and line endings
    "utf8_bom": _plain_text_kind(lambda f: _ok(b"\xef\xbb\xbf" + _text_file(f)), gz=True),
    "utf16_bom": _plain_text_kind(lambda f: _ok(_text_file(f).decode().encode("utf-16")), gz=True),
    "crlf": _plain_text_kind(lambda f: _ok(_text_file(f).replace(b"\n", b"\r\n")), gz=True),
    "bare_cr": _plain_text_kind(lambda f: (_text_file(f).replace(b"\n", b"\r"),
                                           Expect("bad", frozenset(), frozenset(), "line 1") if f == "jsonl"
                                           else Expect("whole"))),
    "mixed_encoding": _plain_text_kind(lambda f: (_text_file(f, _line(f, "bad", "caf\u00e9").replace(b"\xc3\xa9",
                                                                                                     b"\xe9")),
                                                  Expect("bad", where=THIRD[f])), gz=True),
    "blank_lines": _plain_text_kind(lambda f: _ok(_text_file(f, b"\n   \n\n"))),
    # control characters and NUL bytes
    "nul_byte_in_line": _plain_text_kind(
        lambda f: (_text_file(f, b'{"id": "n1", "text": "a\x00b"}\n'), Expect("bad", where=THIRD[f])) if f == "jsonl"
        else _ok(_text_file(f, _line(f, "n1", "a\x00b")), GOOD_IDS | {"n1"})),
    "control_chars_in_text": lambda f: _ok(
        _table(["g1", "c1"], [GOOD[0][1], "bell \x07 escape \x1b[31m red \x00 nul"]) if f == "parquet"
        else _text_file(_base(f), _line(_base(f), "c1", "bell \x07 escape \x1b[31m red")), (
            frozenset({"g1", "c1"}) if f == "parquet" else GOOD_IDS | {"c1"})),
    # ids
    "control_char_id": lambda f: _bad_record(f, "a\x01b"),
    "nul_in_id": lambda f: _bad_record(f, "a\x00b"),
    "very_long_id": lambda f: _bad_record(f, "x" * 1500),
    "empty_id": lambda f: None if f.endswith(".gz") else _bad_record(f, ""),
    "whitespace_id": lambda f: None if f.endswith(".gz") else _bad_record(f, "   "),
    "null_id": _only(["jsonl", "parquet"], lambda f: _bad_record(f, None)),
    "list_id": _only(["jsonl"], lambda f: _bad_record(f, ["a", "b"])),
    "object_id": _only(["jsonl"], lambda f: _bad_record(f, {"a": 1})),
    "boolean_id": _only(["jsonl"], lambda f: _bad_record(f, True)),
    "nan_id": _only(["jsonl"], lambda f: (_text_file(f, b'{"id": NaN, "text": "x"}\n'), Expect("bad", where="line 3"))),
    # values
    "nan_and_inf_metadata": _only(["jsonl", "parquet"], lambda f: _ok(
        _table(["g1", "m1"], score=[1.5, float("nan")], big=[float("inf"), 2.0]) if f == "parquet"
        else _text_file(f, b'{"id": "m1", "text": "x", "score": NaN, "big": -Infinity}\n'),
        frozenset({"g1", "m1"}) if f == "parquet" else GOOD_IDS | {"m1"})),
    "nan_text": _only(["jsonl"], lambda f: (_text_file(f, b'{"id": "n", "text": NaN}\n'),
                                            Expect("bad", where="line 3"))),
    "object_text": _only(["jsonl"], lambda f: _bad_record(f, "obj", {"a": 1})),
    "boolean_text": _only(["jsonl"], lambda f: _bad_record(f, "bool", True)),
    "lone_surrogate_text": _only(["jsonl"], lambda f: _bad_record(f, "s", "half an emoji \ud83d")),
    "huge_integer": _only(["jsonl"], lambda f: (_text_file(f, b'{"id": "h", "text": "x", "n": ' + b"9" * 5000 + b"}\n"),
                                                Expect("bad", where="line 3"))),
    "non_object_line": _only(["jsonl"], lambda f: (_text_file(f, b"[1, 2, 3]\n"), Expect("bad", where="line 3"))),
    "json_nested_3000_deep": _only(["jsonl", "jsonl.gz"], lambda f: (_text_file(_base(f), _deep(3000)),
                                                                     Expect("bad", where="line 3"))),
    "json_nested_150_deep": _only(["jsonl"], lambda f: (_text_file(f, _deep(150)), Expect("bad", where="line 3"))),
    "missing_text_field": lambda f: (
        (_text_file("jsonl", b'{"id": "m", "body": "x"}\n'), Expect("bad", where="line 3")) if _base(f) == "jsonl"
        else (pa.table({"id": ["g1"], "body": ["x"]}), Expect("whole")) if f == "parquet"
        else (_text_file(_base(f)).replace(b"text", b"body", 1), Expect("whole"))),
    # CSV structure
    "unterminated_quote": _only(["csv", "csv.gz", "tsv"], lambda f: (
        _text_file(_base(f), b'bad,"never closed\n'), Expect("bad", frozenset({"g1", "g2"}), where="line 4"))
        if _base(f) == "csv" else _ok(_text_file(f, b'bad\t"never closed\n'), GOOD_IDS | {"bad"})),
    "too_many_fields": _only(["csv", "tsv"], lambda f: (_text_file(f, b"bad,one,two\n".replace(b",", b"," if f == "csv"
                                                                                               else b"\t")),
                                                       Expect("bad", where="line 4"))),
    "duplicate_header": _only(["csv", "tsv", "parquet"], _duplicate_header),
    "csv_field_over_128kb": _only(["csv", "tsv", "csv.gz"], _long_text(200_000)),
    "text_10mb": _only(["jsonl", "csv", "parquet"], _long_text(10_000_000)),
    # empty and not what the name says
    "empty_file": lambda f: (b"", Expect("whole" if f == "parquet" else "empty")),
    "header_only": lambda f: ((_table([], []), Expect("empty")) if f == "parquet"
                              else (HEADERS.get(_base(f), b"\n\n"), Expect("empty"))),
    "zero_byte_gz": _gz_only(lambda f: (b"GZ", Expect("empty"))),
    "not_gzip": _gz_only(lambda f: (b"GZ" + _text_file(f), Expect("whole"))),
    "truncated_gz": _gz_only(_truncated_gz),
    "corrupt_gz": _gz_only(_corrupt_gz),
    "not_parquet": _only(["parquet"], lambda f: (b"PAR1 this is no parquet", Expect("whole"))),
    "truncated_parquet": _only(["parquet"], lambda f: (b"CUT", Expect("whole"))),
    "directory_as_input": lambda f: (b"DIR", Expect("whole")),
}
CASES = [(kind, fmt) for kind, build in KINDS.items() for fmt in FORMATS if build(fmt) is not None]


def _write(tmp_path: Path, fmt: str, content: Content) -> Path:
    path = tmp_path / f"input.{fmt}"
    if content == b"DIR":
        path.mkdir()
    elif content == b"CUT":  # a real Parquet file cut in half: its footer is gone
        pq.write_table(_table([i for i, _ in GOOD]), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif isinstance(content, pa.Table):
        pq.write_table(content, path)
    elif content.startswith(b"GZ"):  # already gzip (or deliberately not)
        path.write_bytes(content[2:])
    else:
        path.write_bytes(gzip.compress(content) if fmt.endswith(".gz") else content)
    return path


def _assert_one_sentence(message: str, path: Path, whole: bool) -> None:
    assert message.startswith((path.name, str(path))), message[:200]
    assert message.endswith(".") and "\n" not in message, message[:200]
    if not whole:
        assert re.search(r"\b(line|row) \d+\b", message), message[:200]


@dataclass
class Run:
    """What one run of the ``selfsim index`` path did."""

    error: SelfsimError | None
    checked: bool  # the error came from the check that runs before anything is created
    stored: set[str]
    skipped: list[str]
    empty_files: list[str]


def index_like_the_cli(path: Path, target: Path, on_error: str, batch_size: int = 2) -> Run:
    """Check the files, open or create the collection (discarded again if left empty), index, close."""
    config = IngestConfig(on_error=on_error, batch_size=batch_size)  # type: ignore[arg-type]
    try:
        Collection.check_files([path], config)
    except SelfsimError as error:
        return Run(error, True, set(), [], [])
    collection = Collection.open_or_create(target, discard_if_empty=True, encoder=TINY)
    error, skipped, empty = None, [], []
    try:
        report = collection.index_files([path], config)
        skipped, empty = [str(e) for e in report.skipped], report.empty_files
    except SelfsimError as caught:
        error = caught
    finally:
        stored = {item.id for item in collection}
        collection.close()
    return Run(error, False, stored, skipped, empty)


@pytest.mark.parametrize("on_error", ["stop", "skip"])
@pytest.mark.parametrize(("kind", "fmt"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_every_bad_input_ends_in_stored_records_or_one_sentence(tmp_path: Path, kind: str, fmt: str,
                                                                on_error: str) -> None:
    case = KINDS[kind](fmt)
    assert case is not None
    content, expect = case
    path = _write(tmp_path, fmt, content)
    target = tmp_path / "collection"
    run = index_like_the_cli(path, target, on_error)
    # every message is one sentence naming the file and the line or row (or the whole file)
    for message in ([str(run.error)] if run.error else []) + run.skipped:
        _assert_one_sentence(message, path, whole=expect.outcome == "whole" or run.checked)
    # nothing half-written: a first run that stored nothing leaves no collection behind
    assert target.exists() == bool(run.stored)
    if expect.outcome == "ok":
        assert (run.error, run.skipped, run.stored) == (None, [], set(expect.stored))
    elif expect.outcome == "empty":
        assert (run.error, run.stored, run.empty_files) == (None, set(), [str(path)])
    elif expect.outcome == "whole":
        assert isinstance(run.error, InputError) and run.checked, run.error
    elif expect.outcome == "bad":
        if on_error == "stop":
            assert isinstance(run.error, StoppedAtError), run.error
            assert str(run.error).startswith(f"{path.name} {expect.where} ")
            assert run.stored == set(expect.before)
        else:
            assert run.error is None and run.skipped[0].startswith(f"{path.name} {expect.where} ")
            assert run.stored == set(expect.stored)
    elif expect.outcome == "damaged":
        message = str(run.error) if on_error == "stop" else " ".join(run.skipped)
        found = re.match(rf"{re.escape(path.name)} after line (\d+) is cut short", message)
        assert found, message
        lines = int(found.group(1))
        header = 1 if _base(fmt) in HEADERS else 0
        assert run.stored == {f"r{i:03d}" for i in range(lines - header)}  # everything before the damage
        assert 0 < len(run.stored) < 400
        assert on_error == "stop" or (run.error is None and len(run.skipped) == 1)
    else:
        assert expect.outcome == "any"


def test_the_suite_covers_at_least_25_kinds_and_every_reader() -> None:
    assert len(KINDS) >= 25
    assert {fmt for _, fmt in CASES} == set(FORMATS)


def test_a_csv_field_over_the_field_limit_is_a_bad_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "CSV_FIELD_LIMIT", 1000)
    path = tmp_path / "long.csv"
    path.write_bytes(_text_file("csv", _line("csv", "long", "word " * 400)))
    run = index_like_the_cli(path, tmp_path / "c", "skip")
    assert run.stored == set(GOOD_IDS)
    assert run.skipped == ["long.csv line 4 has a field longer than 1,000 characters; split the text into smaller "
                           "records or pass --on-error skip to leave it out."]


def test_a_stopped_run_keeps_only_whole_batches_of_good_records(tmp_path: Path) -> None:
    rows = [(f"r{i}", f"record {i} about boats") for i in range(7)]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_text_file("jsonl", b"{broken\n", rows=rows))
    run = index_like_the_cli(path, tmp_path / "c", "stop", batch_size=3)
    assert isinstance(run.error, StoppedAtError) and run.error.stored == 2
    assert run.stored == {"r0", "r1"}
    more = index_like_the_cli(path, tmp_path / "c", "skip", batch_size=3)
    assert more.stored == {f"r{i}" for i in range(7)} and len(more.skipped) == 1


# -- the interaction and label readers get the same treatment -----------------------------------------


EVENTS = b"user,item,timestamp\nu1,a,1\nu1,b,2\nu2,a,3\n"


@pytest.mark.parametrize("on_error", ["stop", "skip"])
@pytest.mark.parametrize(("name", "content", "where"), [
    ("events.jsonl", b'{"user": "u1", "item": "a", "timestamp": 1}\n' + _deep(3000).replace(b'"id"', b'"user"'),
     "line 2"),
    ("events.jsonl", b'{"user": "u1", "item": "a", "timestamp": 1}\n{"user": [1], "item": "b", "timestamp": 2}\n',
     "line 2"),
    ("events.jsonl", b'{"user": "u1", "item": "a", "timestamp": 1}\n{"user": "u1", "item": true, "timestamp": 2}\n',
     "line 2"),
    ("events.jsonl", b'{"user": "u1", "item": "a", "timestamp": 1}\n{"user": "u1", "item": "b", "timestamp": 1e999}\n',
     "line 2"),
    ("events.csv", EVENTS + b"u3,   ,4\n", "line 5"),
    ("events.csv", EVENTS + b"u3," + b"x" * 1500 + b",4\n", "line 5"),
    ("events.csv", EVENTS + b"u3,a\x00b,4\n", "line 5"),
    ("events.csv", EVENTS + b'u3,"unterminated,4\n', "line 5"),
    ("events.csv", EVENTS + b"u3,caf\xe9,4\n", "line 5"),
    ("events.txt", b"u1 a b c\nu2 a b\x01c\n", "line 2"),
])
def test_bad_interaction_lines_name_file_and_line(tmp_path: Path, name: str, content: bytes, where: str,
                                                   on_error: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    config = InteractionReadConfig(on_error=on_error)  # type: ignore[arg-type]
    if on_error == "stop":
        with pytest.raises(InputError) as caught:
            collect_interactions([path], config)
        message = str(caught.value)
    else:
        good, skipped = collect_interactions([path], config)
        assert len(skipped) == 1 and good
        message = str(skipped[0])
    assert message.startswith(f"{name} {where} ") and message.endswith(".") and "\n" not in message


@pytest.mark.parametrize("on_error", ["stop", "skip"])
def test_a_truncated_gzip_event_file_keeps_the_events_before_the_damage(tmp_path: Path, on_error: str) -> None:
    packed = gzip.compress(b"user,item,timestamp\n" + b"".join(b"u%d,i%d,%d\n" % (i % 50, i, i) for i in range(5000)))
    path = tmp_path / "events.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    target = tmp_path / "collection"
    with Collection.open_or_create(target, discard_if_empty=True, encoder=TINY) as collection:
        config = InteractionReadConfig(on_error=on_error)  # type: ignore[arg-type]
        if on_error == "stop":
            with pytest.raises(InputError, match=r"^events.csv.gz after line \d+ is cut short.* events before it were "
                                                 r"stored\)\.$"):
                collection.import_interactions([path], config)
        else:
            report = collection.import_interactions([path], config)
            assert len(report.skipped) == 1
            assert re.match(r"events.csv.gz after line \d+ is cut short", str(report.skipped[0]))
        events = collection.interactions.stats().events
    assert 0 < events < 5000 and target.exists()


@pytest.mark.parametrize(("name", "content", "where"), [
    ("labels.jsonl", b'{"id": "a", "label": "x"}\n' + _deep(3000), "line 2"),
    ("labels.jsonl", b'{"id": "a", "label": "x"}\n{"id": ["a"], "label": "y"}\n', "line 2"),
    ("labels.jsonl", b'{"id": "a", "label": "x"}\n{"id": true, "label": "y"}\n', "line 2"),
    ("labels.tsv", b"id\tlabel\na\tx\n   \ty\n", "line 3"),
    ("labels.tsv", b"id\tlabel\na\tx\n" + b"b" * 1500 + b"\ty\n", "line 3"),
    ("labels.tsv", b"id\tlabel\na\tx\nb\xff\ty\n", "line 3"),
    ("labels.csv", b"id,label\na,x\nb,y,z\n", "line 3"),
    ("labels.csv", b'id,label\na,x\nb,"open\n', "line 3"),
    ("labels.csv", b"id,label,confidence\na,x,NaN\n", "line 2"),
])
def test_bad_label_rows_name_file_and_line(tmp_path: Path, name: str, content: bytes, where: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_label_file(path)
    message = str(caught.value)
    assert message.startswith(f"{name} {where} ") and message.endswith(".") and "\n" not in message


def test_label_files_with_a_bom_and_a_huge_field_read_fine(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(b"\xef\xbb\xbfid,label,text\n7,x," + b"y" * 200_000 + b"\n")
    (row,) = read_label_file(path)
    assert (row.item_id, row.label, len(row.text or "")) == ("7", "x", 200_000)
    with pytest.raises(InputError, match="is a directory"):
        read_label_file(tmp_path)
