"""The real `selfsim` command line.

Most commands run in-process through typer's CliRunner (the encoder is cached per process,
so they reuse the one the session loaded). The error path that turns a SelfsimError into one
sentence lives in ``main()``; it is run in-process once per error and through the console
script in a subprocess for a few cases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from selfsim import Collection, __version__
from selfsim.cli.main import app, main
from selfsim.encoders.base import Encoder
from selfsim.errors import NotFoundError

ROWS = [
    {"id": "m1", "text": "Send an email through an SMTP server", "team": "mail", "year": 2021},
    {"id": "m2", "text": "Read messages from an IMAP mailbox", "team": "mail", "year": 2023},
    {"id": "z1", "text": "Compress a folder into a zip archive", "team": "storage", "year": 2019},
    {"id": "t1", "text": "Parse a date written in ISO format", "team": "time", "year": 2022},
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def indexed(tmp_path: Path, encoder: Encoder, write_jsonl: Callable[[str, list[Any]], Path]) -> Path:
    """A collection of ROWS built in-process (closed), for commands that read or change one."""
    path = tmp_path / "cli-collection"
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(ROWS)
    return path


def _flat(text: str) -> str:
    """Rich wraps long lines to the terminal width; compare text with whitespace collapsed."""
    return " ".join(text.split())


def _json(result: Any) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def test_index_creates_a_collection_and_reports_json(runner: CliRunner, tmp_path: Path, encoder: Encoder,
                                                     write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    data = write_jsonl("rows.jsonl", ROWS)
    target = tmp_path / "new"
    report = _json(runner.invoke(app, ["index", str(target), str(data), "--json"]))
    assert (report["items"], report["chunks"], report["skipped"], report["total_items"]) == (4, 4, [], 4)
    assert report["collection"] == str(target)
    with Collection.open(target, encoder=encoder) as collection:
        assert [item.id for item in collection] == ["m1", "m2", "z1", "t1"]
        assert collection.get("m2").metadata == {"team": "mail", "year": 2023}
    # indexing the same file again replaces rather than duplicates
    again = _json(runner.invoke(app, ["index", str(target), str(data), "--json"]))
    assert (again["items"], again["total_items"]) == (4, 4)


def test_index_field_options_and_human_output(runner: CliRunner, tmp_path: Path, encoder: Encoder) -> None:
    data = tmp_path / "docs.csv"
    data.write_text("key,title,body,lang,noise\nd1,Zip archives,Store many files in one,en,1\n"
                    "d2,Mail,Send and receive email,de,2\n", encoding="utf-8")
    target = tmp_path / "fields"
    result = runner.invoke(app, ["index", str(target), str(data), "--id-field", "key", "--text-field", "title,body",
                                 "--meta-field", "lang", "--chunk-words", "50", "--chunk-overlap", "10",
                                 "--index", "HNSW32"])
    assert result.exit_code == 0, result.stdout
    assert "indexed 2 items (2 chunks)" in _flat(result.stdout)
    with Collection.open(target, encoder=encoder) as collection:
        item = collection.get("d1")
        assert (item.text, item.metadata) == ("Zip archives Store many files in one", {"lang": "en"})
        info = collection.info()
        assert info["index"] == "HNSW32"
        assert info["chunking"] == {"max_words": 50, "overlap_words": 10}


def test_index_skip_reports_bad_records(runner: CliRunner, tmp_path: Path,
                                        write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    data = write_jsonl("mixed.jsonl", [ROWS[0], '{"id": "bad", "text": ', {"id": "empty", "text": ""}, ROWS[1]])
    report = _json(runner.invoke(app, ["index", str(tmp_path / "skip"), str(data), "--on-error", "skip",
                                       "--json"]))
    assert report["items"] == 2
    assert len(report["skipped"]) == 2
    assert report["skipped"][0].startswith("mixed.jsonl line 2 is not valid JSON")
    assert report["skipped"][1].startswith("mixed.jsonl line 3 has an empty 'text' field")
    human = runner.invoke(app, ["index", str(tmp_path / "skip2"), str(data), "--on-error", "skip"])
    assert human.exit_code == 0
    assert "skipped 2 bad records" in _flat(human.stderr) and "mixed.jsonl line 2" in _flat(human.stderr)


def test_search_json_with_filter_mode_and_k(runner: CliRunner, indexed: Path) -> None:
    hits = _json(runner.invoke(app, ["search", str(indexed), "sending email", "--json", "-k", "3",
                                     "--mode", "dense", "-f", "team=mail", "--filter", "year>=2020"]))
    assert [hit["id"] for hit in hits][0] == "m1"
    assert {hit["id"] for hit in hits} == {"m1", "m2"}
    for hit in hits:
        assert set(hit) == {"id", "score", "text", "metadata", "chunk", "span", "signals"}
        assert hit["metadata"]["team"] == "mail" and set(hit["signals"]) == {"dense"}
    hybrid = _json(runner.invoke(app, ["search", str(indexed), "zip archive", "--json", "-k", "1",
                                       "--fusion", "weighted", "--dense-weight", "0.3"]))
    assert hybrid[0]["id"] == "z1" and set(hybrid[0]["signals"]) == {"dense", "keyword"}


def test_search_table_and_no_results(runner: CliRunner, indexed: Path) -> None:
    table = runner.invoke(app, ["search", str(indexed), "zip archive", "-k", "2"])
    assert table.exit_code == 0 and "z1" in table.stdout
    empty = runner.invoke(app, ["search", str(indexed), "zip", "-f", "team=nobody"])
    assert empty.exit_code == 0 and "no results" in empty.stdout


def test_get_info_delete_reindex_and_version(runner: CliRunner, indexed: Path) -> None:
    item = _json(runner.invoke(app, ["get", str(indexed), "t1", "--json"]))
    assert item == {"id": "t1", "text": ROWS[3]["text"], "metadata": {"team": "time", "year": 2022}}
    plain = runner.invoke(app, ["get", str(indexed), "t1"])
    assert plain.exit_code == 0 and ROWS[3]["text"] in _flat(plain.stdout)

    info = _json(runner.invoke(app, ["info", str(indexed), "--json"]))
    assert (info["items"], info["chunks"], info["index"], info["encoder"]) == (4, 4, "Flat", "all-MiniLM-L6-v2")

    deleted = runner.invoke(app, ["delete", str(indexed), "t1", "ghost"])
    assert deleted.exit_code == 0
    assert "deleted 1 items; 3 left" in _flat(deleted.stdout)
    assert "not found" in deleted.stderr and "ghost" in deleted.stderr

    reindexed = runner.invoke(app, ["reindex", str(indexed), "--index", "HNSW32"])
    assert reindexed.exit_code == 0 and "is now HNSW32 (3 vectors)" in _flat(reindexed.stdout)
    after = _json(runner.invoke(app, ["info", str(indexed), "--json"]))
    assert (after["items"], after["index"], after["index_in_use"]) == (3, "HNSW32", "HNSW32")
    hits = _json(runner.invoke(app, ["search", str(indexed), "ISO date", "--json", "--mode", "dense"]))
    assert "t1" not in [hit["id"] for hit in hits] and len(hits) == 3

    version = runner.invoke(app, ["version"])
    assert version.exit_code == 0 and version.stdout.strip() == __version__


def test_runner_surfaces_user_errors_as_selfsim_errors(runner: CliRunner, indexed: Path) -> None:
    result = runner.invoke(app, ["get", str(indexed), "nope"])
    assert result.exit_code != 0
    assert isinstance(result.exception, NotFoundError)
    assert "no item with id 'nope'" in str(result.exception)


# -- main(): one sentence, exit status 1, no traceback ----------------------------------------------


@pytest.mark.parametrize(("arguments", "sentence"), [
    (["get", "{collection}", "nope"], "no item with id 'nope'"),
    (["search", "{collection}", "q", "-f", "year~2020"], "cannot read the filter 'year~2020'"),
    (["search", "{collection}", "q", "--mode", "fuzzy"], "unknown search mode 'fuzzy'"),
    (["search", "{collection}", "q", "-f", "lang=en", "--dense-weight", "2"], "dense_weight must lie between 0 and 1"),
    (["reindex", "{collection}", "--index", "Bogus"], "'Bogus' is not an index FAISS can build"),
    (["index", "{collection}", "{missing}"], "does not exist; check the path"),
    (["index", "{collection}", "{collection}/collection.sqlite"], "cannot read collection.sqlite"),
    (["index", "{collection}", "{missing}", "--on-error", "ignore"], "on_error must be 'stop' or 'skip'"),
    (["info", "{nowhere}"], "is not a selfsim collection"),
])
def test_main_turns_user_errors_into_one_sentence(indexed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], arguments: list[str],
                                                  sentence: str) -> None:
    values = {"collection": str(indexed), "missing": str(tmp_path / "missing.jsonl"),
              "nowhere": str(tmp_path / "nowhere")}
    monkeypatch.setattr(sys, "argv", ["selfsim", *(a.format(**values) for a in arguments)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1  # one line (a progress bar may have been drawn above it)
    assert errors[0].startswith("error: ") and sentence in errors[0] and errors[0].endswith(".")


def test_main_swapped_index_arguments_end_in_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str],
                                                          write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    data = write_jsonl("rows.jsonl", ROWS)
    monkeypatch.setattr(sys, "argv", ["selfsim", "index", str(data), str(tmp_path / "collection")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert "error: " in capsys.readouterr().err


# -- the console script in a subprocess ---------------------------------------------------------------


def _selfsim(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "selfsim.cli.main", *arguments], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_console_script_bad_input_ends_in_one_sentence(tmp_path: Path,
                                                       write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    data = write_jsonl("bad.jsonl", [ROWS[0], '{"id": "broken", "text": "no closing brace"', ROWS[1]])
    result = _selfsim("index", str(tmp_path / "target"), str(data), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "error: bad.jsonl line 2 is not valid JSON" in result.stderr
    assert "1 items before it were stored" in result.stderr
    with Collection.open(tmp_path / "target") as collection:  # the good record before it was kept
        assert [item.id for item in collection] == ["m1"]


def test_console_script_errors_before_any_model_is_loaded(tmp_path: Path) -> None:
    missing = _selfsim("search", str(tmp_path / "nowhere"), "anything", cwd=tmp_path)
    assert missing.returncode == 1
    assert "is not a selfsim collection" in missing.stderr and "Traceback" not in missing.stderr
    bad_filter = _selfsim("search", str(tmp_path / "nowhere"), "anything", "-f", "year~2020", cwd=tmp_path)
    assert bad_filter.returncode == 1
    assert "cannot read the filter 'year~2020'" in bad_filter.stderr and "Traceback" not in bad_filter.stderr
    version = _selfsim("version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == __version__
