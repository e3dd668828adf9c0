"""Read and write label files: which item (by id, or by its exact text) has which class.

Formats, picked by extension:

- TSV / CSV with a header naming ``label`` and ``id`` or ``text`` (an optional
  ``confidence`` column, 0..1);
- JSONL, one object per line with ``label`` and ``id`` or ``text`` (and
  optionally ``confidence``).

Export writes the same layouts, with ``source`` and ``confidence`` columns
(and, in JSONL, each class's probability when the label has them).

Files are read with the care of :mod:`selfsim.data.readers` (bad bytes, JSON
nested too deep, huge CSV fields, byte-order marks: one sentence naming the
line). Ids follow the rule of :mod:`selfsim.data.records`; an empty or null
``id`` means "no id" here, since a row may name its item by ``text`` instead.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsim.data.readers import check_file, delimited_rows, read_jsonl
from selfsim.data.records import ID_ADVICE, as_id, id_problem
from selfsim.errors import ConfigError, InputError, RecordError


@dataclass(frozen=True)
class LabelRow:
    """One row of a labels file: the item's id or its text, its class and a confidence."""

    label: str
    item_id: str | None = None
    text: str | None = None
    confidence: float = 1.0
    location: str = ""


def read_label_file(path: str | Path) -> list[LabelRow]:
    """Every row of a TSV/CSV/JSONL labels file; a bad row raises an :class:`InputError` naming its line."""
    path = Path(path)
    check_file(path, "labels file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        raw = _jsonl(path)
    elif suffix in (".tsv", ".csv", ".txt"):
        raw = _delimited(path, "," if suffix == ".csv" else "\t")
    else:
        raise ConfigError(f"cannot read labels from {path.name}; use a .tsv, .csv or .jsonl file.")
    return [_label_row(path, location, record) for location, record in raw]


def _label_row(path: Path, location: str, record: dict[str, Any]) -> LabelRow:
    label = record.get("label")
    if isinstance(label, (dict, list, bool)):
        raise RecordError(path.name, location, "has a label that is not a class name", "write the class as a string")
    if label is None or not str(label).strip():
        raise RecordError(path.name, location, "has no label", "give every row a 'label'")
    item_id = record.get("id")
    if item_id is not None and item_id != "":
        problem = id_problem(item_id)
        if problem is not None:
            raise RecordError(path.name, location, f"has an id that {problem}", ID_ADVICE)
        item_id = as_id(item_id)
    else:
        item_id = None
    text = record.get("text")
    if item_id is None and (not isinstance(text, (str, int, float)) or not str(text).strip()):
        raise RecordError(path.name, location, "has neither an 'id' nor a 'text'",
                          "name the item by its id or its exact text")
    confidence = record.get("confidence")
    try:
        confidence = 1.0 if confidence in (None, "") else float(confidence)
        if not 0.0 <= confidence <= 1.0 or math.isnan(confidence):
            raise ValueError
    except (TypeError, ValueError):
        raise RecordError(path.name, location, "has a confidence that is not a number between 0 and 1",
                          "use a number between 0 and 1") from None
    return LabelRow(str(label).strip(), item_id, None if text is None else str(text), confidence, location)


def write_label_file(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write label dicts (``id``, ``label``, ``source``, ``confidence``, optional ``probabilities``) as TSV/CSV
    or JSONL by the extension of ``path``; returns how many rows were written."""
    path = Path(path)
    suffix = path.suffix.lower()
    count = 0
    if suffix in (".jsonl", ".json", ".ndjson"):
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count
    if suffix not in (".tsv", ".csv", ".txt"):
        raise ConfigError(f"cannot write labels to {path.name}; use a .tsv, .csv or .jsonl file.")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="," if suffix == ".csv" else "\t", lineterminator="\n")
        writer.writerow(["id", "label", "source", "confidence"])
        for row in rows:
            writer.writerow([row["id"], row["label"], row["source"], f"{row['confidence']:.5f}"])
            count += 1
    return count


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    return read_jsonl(path, '{"id": "a1", "label": "spam"}', "labels file")


def _delimited(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, Any]]]:
    def check_header(columns: list[str]) -> None:
        names = {name.lower() for name in columns}
        if "label" not in names or not ({"id", "text"} & names):
            raise RecordError(path.name, "line 1", "has no header naming 'label' and 'id' or 'text'",
                             "start the file with a header such as id<TAB>label")

    # Label files have always allowed quoted fields, in TSV too.
    for location, row in delimited_rows(path, "utf-8", delimiter, quoting=csv.QUOTE_MINIMAL,
                                        check_columns=check_header):
        if isinstance(row, InputError):
            raise row
        yield location, {name.lower(): value for name, value in row.items()}
