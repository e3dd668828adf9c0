"""Read and write label files: which item (by id, or by its exact text) has which class.

Formats, picked by extension:

- TSV / CSV with a header naming ``label`` and ``id`` or ``text`` (an optional
  ``confidence`` column, 0..1);
- JSONL, one object per line with ``label`` and ``id`` or ``text`` (and
  optionally ``confidence``).

Export writes the same layouts, with ``source`` and ``confidence`` columns
(and, in JSONL, each class's probability when the label has them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsim.errors import ConfigError, NotFoundError, RecordError


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
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; check the path of the labels file.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        raw = _jsonl(path)
    elif suffix in (".tsv", ".csv", ".txt"):
        raw = _delimited(path, "," if suffix == ".csv" else "\t")
    else:
        raise ConfigError(f"cannot read labels from {path.name}; use a .tsv, .csv or .jsonl file.")
    rows = []
    for location, record in raw:
        label = record.get("label")
        if label is None or not str(label).strip():
            raise RecordError(path.name, location, "has no label", "give every row a 'label'")
        item_id = record.get("id")
        text = record.get("text")
        if (item_id is None or str(item_id) == "") and (text is None or not str(text).strip()):
            raise RecordError(path.name, location, "has neither an 'id' nor a 'text'",
                             "name the item by its id or its exact text")
        try:
            confidence = float(record.get("confidence", 1.0) or 1.0)
        except (TypeError, ValueError):
            raise RecordError(path.name, location, "has a confidence that is not a number",
                             "use a number between 0 and 1") from None
        rows.append(LabelRow(str(label).strip(), None if item_id in (None, "") else str(item_id),
                             None if text is None else str(text), confidence, location))
    return rows


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
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise RecordError(path.name, f"line {number}", "is not valid JSON", "fix the line") from None
            if not isinstance(record, dict):
                raise RecordError(path.name, f"line {number}", "is not a JSON object",
                                 'write {"id": ..., "label": ...}')
            yield f"line {number}", record


def _delimited(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader, [])]
        if "label" not in header or not ({"id", "text"} & set(header)):
            raise RecordError(path.name, "line 1", "has no header naming 'label' and 'id' or 'text'",
                             "start the file with a header such as id<TAB>label")
        for number, values in enumerate(reader, 2):
            if not any(v.strip() for v in values):
                continue
            yield f"line {number}", dict(zip(header, values, strict=False))
