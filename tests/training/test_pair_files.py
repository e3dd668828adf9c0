"""Training files: STS/pair/triplet layouts, rescaled scores, and one-sentence errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfsim.data.pair_files import Example, read_examples
from selfsim.errors import ConfigError, InputError
from selfsim.objectives.text_objective import objective_class


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sts_file_with_header_and_quotes_is_rescaled_to_unit_scores(tmp_path: Path) -> None:
    path = _write(tmp_path, "sts.tsv", 'score\tsentence1\tsentence2\n5.0\t"A ""quoted"" cat."\tA cat.\n'
                                       "2.5\tA dog.\tA bird.\n")
    assert read_examples(path, "scored") == [Example(('A "quoted" cat.', "A cat."), 1.0),
                                             Example(("A dog.", "A bird."), 0.5)]


def test_files_without_header_read_by_position_and_jsonl_by_name(tmp_path: Path) -> None:
    triplets = _write(tmp_path, "t.tsv", "a\tp\tn\n")
    assert read_examples(triplets, "triplets") == [Example(("a", "p", "n"))]
    labelled = _write(tmp_path, "l.csv", "label,sentence1,sentence2\n1,x,y\n0,x,z\n")
    assert [e.label for e in read_examples(labelled, "labelled")] == [1.0, 0.0]
    jsonl = _write(tmp_path, "p.jsonl", '{"anchor": "q", "positive": "d"}\n{"text1": "u", "text2": "v"}\n')
    assert read_examples(jsonl, "pairs") == [Example(("q", "d")), Example(("u", "v"))]
    texts = _write(tmp_path, "texts.jsonl", '{"text": "hello"}\n')
    assert read_examples(texts, "texts") == [Example(("hello",))]


@pytest.mark.parametrize(("name", "content", "kind", "message"), [
    ("a.tsv", "sentence1\tsentence2\nx\ty\n", "scored", r"a\.tsv line 1 \(the header\) has no column score"),
    ("b.tsv", "score\tsentence1\tsentence2\n4\tx\n", "scored", r"b\.tsv line 2 has 2 columns, not 3"),
    ("c.tsv", "score\tsentence1\tsentence2\nhigh\tx\ty\n", "scored", r"c\.tsv line 2 has the score 'high'"),
    ("d.tsv", "score\tsentence1\tsentence2\n9\tx\ty\n", "scored", r"d\.tsv has scores from 9 to 9"),
    ("e.jsonl", '{"text": "ok"}\n{bad\n', "texts", r"e\.jsonl line 2 is not valid JSON"),
    ("f.tsv", "label\tsentence1\tsentence2\n0.5\tx\ty\n", "labelled", r"f\.tsv line 2 has the label '0\.5'"),
])
def test_a_bad_file_fails_with_one_sentence_naming_file_and_line(tmp_path: Path, name: str, content: str,
                                                                 kind: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        read_examples(_write(tmp_path, name, content), kind)  # type: ignore[arg-type]
    assert str(caught.value).count(".") >= 1 and "\n" not in str(caught.value)


def test_an_objective_refuses_data_without_its_columns() -> None:
    with pytest.raises(ConfigError, match=r"the cosine objective needs scored pairs \(sentence1, sentence2, "
                                          r"score\), but pairs.tsv holds pairs rows"):
        objective_class("cosine").check_data("pairs", "pairs.tsv")
    with pytest.raises(ConfigError, match="no objective called 'bogus'"):
        objective_class("bogus")
