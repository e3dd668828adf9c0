"""Hostile text never breaks or alters the terminal: rich markup, emoji codes, trailing backslashes and
control characters in ids, texts, metadata, queries, filters, labels, paths and error messages come out
verbatim (control characters as visible escapes), through the real `selfsim` commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app, main
from selfsim.encoders.base import Encoder

HOSTILE_TEXT = "binaries live in [/usr/bin] and [bold]not bold[/bold] :warning: x"
ROWS = [
    {"id": "[red]m2", "text": HOSTILE_TEXT, "team": "[/x]", "tags": ["[link=http://evil]a[/link]"]},
    {"id": "win\\", "text": "the folder C:\\dir\\ holds [italic]files[/] and [/usr/bin] too",
     "team": "C:\\dir\\"},
    {"id": "esc", "text": "terminal \x1b[31mred\x1b[0m text in [/usr/bin]", "team": "plain"},
    {"id": "ok", "text": "an ordinary sentence about gardening", "team": "plain"},
]
WIDE = {"COLUMNS": "400"}  # no wrapping, so a string can be found whole


@pytest.fixture
def hostile(tmp_path: Path, encoder: Encoder) -> Path:
    """A collection of ROWS under a directory whose path holds ``[/x]``."""
    path = tmp_path / "[" / "x]" / "c"
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(ROWS)
    return path


def _flat(text: str) -> str:
    """A table's title wraps to the table's width whatever the terminal's; compare with whitespace collapsed."""
    return " ".join(text.split())


def _run(*arguments: str) -> Any:
    result = CliRunner().invoke(app, list(arguments), env=WIDE)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.exception is None
    return result


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """Run the console script's ``main()``; return its one error line (exit status 1)."""
    monkeypatch.setattr(sys, "argv", ["selfsim", *arguments])
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 1, captured
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("."), lines
    return lines[0]


def test_get_prints_ids_texts_and_metadata_verbatim(hostile: Path) -> None:
    shown = _run("get", str(hostile), "[red]m2").stdout
    assert "[red]m2" in shown and HOSTILE_TEXT in shown and "[/x]" in shown
    assert "[link=http://evil]a[/link]" in shown
    backslash = _run("get", str(hostile), "win\\").stdout
    assert "win\\ " in backslash and "C:\\dir\\ holds [italic]files[/] and" in backslash
    assert "\nthe folder C:\\dir\\ holds" in backslash  # the text line: one backslash stays one


def test_control_characters_are_shown_not_sent_to_the_terminal(hostile: Path) -> None:
    shown = _run("get", str(hostile), "esc").stdout
    assert "\x1b" not in shown
    assert "terminal \\x1b[31mred\\x1b[0m text in [/usr/bin]" in shown


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_search_table_shows_hostile_ids_texts_and_query(hostile: Path, mode: str) -> None:
    shown = _run("search", str(hostile), "[/x] usr bin binaries", "--mode", mode).stdout
    assert f"{mode} search: [/x] usr bin binaries" in shown
    assert "[red]m2" in shown and HOSTILE_TEXT in shown and "win\\ " in shown


def test_search_with_a_hostile_filter_value(hostile: Path) -> None:
    shown = _run("search", str(hostile), "binaries", "--filter", "team=[/x]").stdout
    assert "[red]m2" in shown and "win\\" not in shown


def test_info_index_and_delete_print_hostile_paths_and_ids(hostile: Path, tmp_path: Path,
                                                           write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    assert str(hostile) in _run("info", str(hostile)).stdout
    data = write_jsonl("more.jsonl", [{"id": "[blue]n1", "text": "another [/usr/bin] line"}])
    indexed = _run("index", str(hostile), str(data)).stdout
    assert f"5 items in {hostile}" in indexed
    deleted = _run("delete", str(hostile), "[blue]n1", "[/gone]")
    assert f"deleted 1 items; 4 left in {hostile}" in deleted.stdout
    assert "not found: [/gone]" in deleted.stderr


@pytest.mark.parametrize(("arguments", "sentence"), [
    (["get", "{c}", "[/x]"], "no item with id '[/x]'"),
    (["get", "{c}", "[red]nope"], "no item with id '[red]nope'"),
    (["search", "{c}", "q", "--filter", "[/x]"], "cannot read the filter '[/x]'"),
    (["info", "{c}/[/y]"], "[/y] is not a selfsim collection"),
])
def test_error_messages_with_markup_are_printed_verbatim(hostile: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], arguments: list[str],
                                                         sentence: str) -> None:
    line = _main(monkeypatch, capsys, *(a.format(c=hostile) for a in arguments))
    assert sentence in line


def test_duplicates_and_cluster_tables_show_hostile_ids(tmp_path: Path, encoder: Encoder) -> None:
    path = tmp_path / "dups[/x]"
    twins = [{"id": f"[red]t{i}", "text": f"copy [/usr/bin] number {i % 2}"} for i in range(4)]
    others = [{"id": f"o{i}", "text": f"[b]topic[/b] {word} story"} for i, word in enumerate(
        ["garden", "rocket", "football", "cooking", "violin", "winter"])]
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(twins + others)
    groups = _run("duplicates", str(path), "--threshold", "0.99").stdout
    assert "[red]t0" in groups and "copy [/usr/bin] number" in groups
    topics = _run("cluster", str(path), "-k", "2", "--reduce", "none").stdout
    assert "[red]t" in topics or "[b]topic[/b]" in topics


def test_label_names_and_predictions_are_verbatim(tmp_path: Path, encoder: Encoder) -> None:
    path = tmp_path / "labels[/x]"
    good = ["a wonderful film", "brilliant and moving", "I loved it", "a delightful comedy"]
    bad = ["a dull mess", "the worst film", "boring and slow", "a waste of time"]
    with Collection.create(path, encoder=encoder) as collection:
        collection.add([{"id": f"g{i}", "text": t} for i, t in enumerate(good)]
                       + [{"id": f"b{i}", "text": t} for i, t in enumerate(bad)])
    labels = tmp_path / "labels.tsv"
    labels.write_text("id\tlabel\n" + "".join(f"g{i}\t[green]good\n" for i in range(3))
                      + "".join(f"b{i}\t[/bad]\n" for i in range(3)), encoding="utf-8")
    imported = _run("labels", "import", str(path), str(labels), "--task", "[/t]")
    assert "into '[/t]'" in imported.stdout and "[green]good 3" in imported.stdout
    listed = _run("labels", "list", str(path)).stdout
    assert "[/t]" in listed and "[/bad]: 3" in listed and "label sets in" in listed
    _run("classify", "fit", str(path), "--task", "[/t]")
    predicted = _run("classify", "predict", str(path), "[/usr/bin] was a wonderful film", "--task", "[/t]").stdout
    assert "[/usr/bin] was a wonderful film" in predicted
    assert "[green]good" in predicted or "[/bad]" in predicted
    suggested = _run("classify", "suggest", str(path), "--task", "[/t]", "-n", "2").stdout
    assert "g3" in suggested or "b3" in suggested


def test_recommendations_show_hostile_item_ids(tmp_path: Path, encoder: Encoder) -> None:
    from selfsim.tasks.recommend.collection import RecommendConfig
    from selfsim.training.sequence import SequenceTrainingConfig

    log = tmp_path / "log.txt"
    log.write_text("".join(f"u{u} [red]a [/b] c{u % 3} [/b]\n" for u in range(12)), encoding="utf-8")
    path = tmp_path / "shop"
    tiny = RecommendConfig(max_length=5, dim=8, heads=1, blocks=1,
                           training=SequenceTrainingConfig(epochs=1, batch_size=16, eval_every=1, threads=None))
    with Collection.create(path, encoder=encoder) as collection:
        collection.import_interactions([log])
        collection.train_recommender(tiny)
    shown = _run("recommend", str(path), "--history", "[red]a", "-k", "3", "--include-seen").stdout
    assert "[red]a" in shown or "[/b]" in shown
    similar = _run("similar-items", str(path), "[/b]", "-k", "2").stdout
    assert "items similar to [/b]" in _flat(similar)
    assert json.loads(_run("recommend", str(path), "--user", "u1", "--json").stdout)
