"""Failed commands leave no debris: a first ``index`` or ``interactions import`` that fails creates nothing.

Bad paths, unknown formats, missing columns and files that are not what their name says are refused
before a model is loaded or a directory made; a run that gets as far as creating the collection and
then stores nothing (a bad first record, an empty file) removes what it made. An empty input is a
yellow warning with exit status 0. Commands run in-process through ``main()`` (the encoder is cached
per process); one runs through the console script in a subprocess.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfsim import Collection
from selfsim.cli.main import main
from selfsim.encoders.base import Encoder

ROWS = [{"id": "m1", "text": "Send an email through an SMTP server"},
        {"id": "m2", "text": "Read messages from an IMAP mailbox"}]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *arguments: object
         ) -> tuple[int, str, str]:
    """``selfsim ARGUMENTS`` in-process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["selfsim", *(str(a) for a in arguments)])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "Aborted" not in captured.out + captured.err
    return int(exited.value.code or 0), captured.out, captured.err


def _error_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert line.endswith(".")
    return line


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return _jsonl(tmp_path / "good.jsonl", list(ROWS))


@pytest.mark.parametrize(("make", "sentence"), [
    (lambda d: d / "missing.jsonl", "missing.jsonl does not exist; check the path."),
    (lambda d: (d / "folder.jsonl").mkdir() or d / "folder.jsonl", "folder.jsonl is a directory, not a file"),
    (lambda d: (d / "rows.xml").write_text("<rows/>") and d / "rows.xml", "cannot read rows.xml"),
    (lambda d: (d / "rows.csv").write_text("id,body\n1,x\n") and d / "rows.csv", "rows.csv has no 'text' column"),
    (lambda d: (d / "rows.csv").write_text("id,text,text\n1,x,y\n") and d / "rows.csv",
     "rows.csv line 1 names the column 'text' twice"),
    (lambda d: (d / "rows.jsonl.gz").write_text('{"id": 1}\n') and d / "rows.jsonl.gz",
     "rows.jsonl.gz is not gzip data although its name ends in .gz"),
    (lambda d: (d / "rows.parquet").write_bytes(b"PAR1 no") and d / "rows.parquet",
     "rows.parquet is not a readable Parquet file"),
])
def test_a_first_index_refused_before_anything_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], good: Path,
                                                       make: object, sentence: str) -> None:
    bad = make(tmp_path)  # type: ignore[operator]
    target = tmp_path / "deep" / "new" / "collection"
    code, _, stderr = _run(monkeypatch, capsys, "index", target, good, bad)  # the good file comes first
    assert code == 1 and sentence in _error_line(stderr)
    assert not (tmp_path / "deep").exists()


def test_a_bad_first_record_removes_the_collection_it_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str],
                                                           encoder: Encoder) -> None:
    data = _jsonl(tmp_path / "bad.jsonl", ['{"id": "broken", "text": ', ROWS[0]])
    target = tmp_path / "parent" / "collection"
    code, _, stderr = _run(monkeypatch, capsys, "index", target, data)
    assert code == 1
    assert _error_line(stderr).startswith("error: bad.jsonl line 1 is not valid JSON")
    assert not (tmp_path / "parent").exists()
    # a wrong --text-field fails on the first record too, and leaves nothing
    code, _, stderr = _run(monkeypatch, capsys, "index", target, _jsonl(tmp_path / "ok.jsonl", list(ROWS)),
                           "--text-field", "body")
    assert code == 1 and "ok.jsonl line 1 has no 'body' field" in _error_line(stderr)
    assert not (tmp_path / "parent").exists()


def test_a_directory_that_existed_keeps_only_what_it_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str],
                                                          encoder: Encoder) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    data = _jsonl(tmp_path / "bad.jsonl", ['{"id": ""', ROWS[0]])
    code, _, _ = _run(monkeypatch, capsys, "index", target, data)
    assert code == 1
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_an_empty_input_is_a_warning_and_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str],
                                                         encoder: Encoder) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,text\n")
    target = tmp_path / "collection"
    code, stdout, stderr = _run(monkeypatch, capsys, "index", target, empty, header_only)
    assert code == 0 and "error" not in stderr
    assert "warning: " in stderr and "empty.jsonl holds no records" in stderr
    assert "header.csv holds no records" in stderr
    assert "no collection was made" in " ".join(stderr.split())
    assert not target.exists()
    # into an existing collection an empty file is the same warning, and the collection stays
    code, _, _ = _run(monkeypatch, capsys, "index", target, _jsonl(tmp_path / "good.jsonl", list(ROWS)))
    assert code == 0 and target.exists()
    code, stdout, stderr = _run(monkeypatch, capsys, "index", target, empty, "--json")
    assert code == 0 and "empty.jsonl holds no records" in stderr
    report = json.loads(stdout)
    assert (report["items"], report["total_items"], report["discarded"]) == (0, 2, False)
    assert report["empty_files"] == [str(empty)]


@pytest.mark.parametrize("on_error", ["stop", "skip"])
def test_a_truncated_gzip_is_one_sentence_and_keeps_the_records_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], encoder: Encoder,
        on_error: str) -> None:
    rows = "".join(json.dumps({"id": f"r{i}", "text": f"note {i} on ships {i * 7919 % 10007}"}) + "\n"
                   for i in range(300))
    packed = gzip.compress(rows.encode())
    data = tmp_path / "notes.jsonl.gz"
    data.write_bytes(packed[: len(packed) // 2])
    target = tmp_path / "collection"
    code, _, stderr = _run(monkeypatch, capsys, "index", target, data, "--on-error", on_error, "--batch-size", "64")
    flat = " ".join(stderr.split())
    assert "notes.jsonl.gz after line" in flat and "is cut short" in flat
    assert code == (1 if on_error == "stop" else 0)
    if on_error == "skip":
        assert "skipped 1 bad records" in flat
    with Collection.open(target, encoder=encoder) as collection:
        assert 0 < len(collection) < 300


def test_replaced_ids_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], encoder: Encoder) -> None:
    data = _jsonl(tmp_path / "ids.jsonl", [{"id": 1, "text": "first"}, {"id": "1", "text": "second"},
                                           {"id": "a", "text": "third"}, {"id": " a ", "text": "fourth"}])
    code, stdout, stderr = _run(monkeypatch, capsys, "index", tmp_path / "c", data, "--json")
    assert code == 0
    assert "2 records replaced earlier records with the same id ('1', 'a')" in " ".join(stderr.split())
    report = json.loads(stdout)
    assert (report["items"], report["replaced"], report["replaced_ids"], report["total_items"]) == (2, 2, ["1", "a"], 2)


# -- interactions import --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "sentence"), [
    ("missing.csv", None, "missing.csv does not exist"),
    ("events.csv", "person,item,timestamp\nu,i,1\n", "events.csv has no 'user' column"),
    ("events.csv.gz", "user,item,timestamp\nu,i,1\n", "is not gzip data"),
])
def test_a_first_interactions_import_refused_before_anything_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str,
        content: str | None, sentence: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    target = tmp_path / "collection"
    code, _, stderr = _run(monkeypatch, capsys, "interactions", "import", target, path)
    assert code == 1 and sentence in _error_line(stderr)
    assert not target.exists()


def test_an_interactions_import_that_stores_nothing_removes_what_it_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], encoder: Encoder) -> None:
    target = tmp_path / "collection"
    bad = tmp_path / "events.csv"
    bad.write_text("user,item,timestamp\nu1,i1,yesterday\n")
    code, _, stderr = _run(monkeypatch, capsys, "interactions", "import", target, bad)
    assert code == 1 and "events.csv line 2 has a timestamp 'yesterday'" in _error_line(stderr)
    assert not target.exists()
    empty = tmp_path / "log.txt"
    empty.write_text("\n")
    code, _, stderr = _run(monkeypatch, capsys, "interactions", "import", target, empty)
    assert code == 0 and "log.txt holds no events" in stderr and not target.exists()
    code, _, _ = _run(monkeypatch, capsys, "interactions", "import", target, bad, "--on-error", "skip")
    assert code == 0 and not target.exists()  # every line was bad: nothing stored, nothing made


def test_the_console_script_refuses_a_directory_without_a_trace(tmp_path: Path) -> None:
    folder = tmp_path / "data.jsonl"
    folder.mkdir()
    result = subprocess.run([sys.executable, "-m", "selfsim.cli.main", "index", str(tmp_path / "c"), str(folder)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is a directory, not a file" in result.stderr
    assert not (tmp_path / "c").exists()
