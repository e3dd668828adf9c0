"""Training files for text encoders: scored pairs (STS), labelled pairs, positive pairs, triplets, plain texts.

Files are TSV, CSV or JSONL. Delimited files may start with a header naming
the columns; without one, columns are read by position in the layouts the
shared data uses (``score sentence1 sentence2`` for STS,
``label sentence1 sentence2`` for MRPC, ``anchor positive negative``).
Accepted column names:

=========  ==================================================  =================================
kind       columns                                             what it feeds
=========  ==================================================  =================================
scored     sentence1, sentence2, score (0-1, or 0-5 rescaled)  cosine, cosent
labelled   sentence1, sentence2, label (1 similar, 0 not)      contrastive (label-1 rows: pairs)
pairs      sentence1, sentence2 (or anchor, positive)          pairs
triplets   anchor, positive, negative                          triplet, pairs
texts      text                                                simcse, denoise, crops
=========  ==================================================  =================================

A row that cannot be used is an :class:`~selfsim.errors.InputError` naming
the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from selfsim.data.readers import read_jsonl
from selfsim.errors import NotFoundError, RecordError

Kind = Literal["scored", "labelled", "pairs", "triplets", "texts"]
KINDS: tuple[str, ...] = ("scored", "labelled", "pairs", "triplets", "texts")

_ALIASES = {
    "sentence1": ("sentence1", "text1", "anchor", "query", "s1"),
    "sentence2": ("sentence2", "text2", "positive", "s2"),
    "negative": ("negative", "text3"),
    "score": ("score", "similarity", "label"),
    "text": ("text", "sentence", "sentence1"),
}
# Columns by position when there is no header.
_POSITIONAL: dict[str, tuple[str, ...]] = {
    "scored": ("score", "sentence1", "sentence2"),
    "labelled": ("score", "sentence1", "sentence2"),
    "pairs": ("sentence1", "sentence2"),
    "triplets": ("sentence1", "sentence2", "negative"),
    "texts": ("text",),
}
_NEEDS: dict[str, tuple[str, ...]] = {
    "scored": ("sentence1", "sentence2", "score"),
    "labelled": ("sentence1", "sentence2", "score"),
    "pairs": ("sentence1", "sentence2"),
    "triplets": ("sentence1", "sentence2", "negative"),
    "texts": ("text",),
}
_HEADER_WORDS = {alias for names in _ALIASES.values() for alias in names}


@dataclass(frozen=True)
class Example:
    """One training example: one to three texts and, for scored or labelled pairs, a label."""

    texts: tuple[str, ...]
    label: float | None = None


def read_examples(path: str | Path, kind: Kind, score_max: float | None = None) -> list[Example]:
    """Every row of ``path`` as an :class:`Example` of ``kind``.

    Scores of a ``scored`` file are divided by ``score_max``; by default by 5
    when any score exceeds 1 (the STS 0-5 scale), else left as they are.
    """
    path = Path(path)
    if kind not in KINDS:
        raise RecordError(path.name, "", f"cannot be read as {kind!r} examples", f"use one of {', '.join(KINDS)}")
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; check the path of the training file.")
    examples = [_example(row, kind, path.name, location) for location, row in _rows(path, kind)]
    if not examples:
        raise RecordError(path.name, "", "holds no examples", "give at least one row of data")
    if kind == "scored":
        examples = _rescale(examples, path.name, score_max)
    return examples


def _example(row: dict[str, Any], kind: str, source: str, location: str) -> Example:
    missing = [name for name in _NEEDS[kind] if row.get(name) in (None, "")]
    if missing:
        raise RecordError(source, location, f"has no {', '.join(missing)}",
                         f"{kind} examples need the columns {', '.join(_NEEDS[kind])}")
    if kind == "texts":
        return Example((str(row["text"]),))
    texts = tuple(str(row[name]) for name in _NEEDS[kind] if name != "score")
    if kind not in ("scored", "labelled"):
        return Example(texts)
    try:
        label = float(row["score"])
    except (TypeError, ValueError):
        raise RecordError(source, location, f"has the score {row['score']!r}, which is not a number",
                         "write a number in the score column") from None
    if kind == "labelled" and label not in (0.0, 1.0):
        raise RecordError(source, location, f"has the label {row['score']!r}",
                         "label similar pairs 1 and dissimilar pairs 0")
    return Example(texts, label)


def _rescale(examples: list[Example], source: str, score_max: float | None) -> list[Example]:
    top = max(float(e.label or 0.0) for e in examples)
    low = min(float(e.label or 0.0) for e in examples)
    if score_max is None:
        score_max = 1.0 if top <= 1.0 else 5.0
    if low < 0 or top > score_max:
        raise RecordError(source, "", f"has scores from {low:g} to {top:g}",
                         f"use scores between 0 and {score_max:g} (or give the scale's maximum)")
    return [Example(e.texts, float(e.label or 0.0) / score_max) for e in examples]


def _rows(path: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        yield from _jsonl(path)
        return
    delimiter = "," if name.endswith(".csv") else "\t"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        columns: Sequence[str] | None = None
        for number, cells in enumerate(reader, start=1):
            if not cells or not any(c.strip() for c in cells):
                continue
            if columns is None:
                if _is_header(cells):
                    columns = _canonical([c.strip().lower() for c in cells], kind)
                    missing = [n for n in _NEEDS[kind] if n not in columns]
                    if missing:
                        raise RecordError(path.name, f"line {number}",
                                         f"(the header) has no column {', '.join(missing)}",
                                         f"{kind} examples need the columns {', '.join(_NEEDS[kind])}")
                    continue
                columns = _POSITIONAL[kind]
            if len(cells) < len(columns):
                raise RecordError(path.name, f"line {number}", f"has {len(cells)} columns, not {len(columns)}",
                                 f"write {', '.join(columns)} separated by "
                                 f"{'commas' if delimiter == ',' else 'tabs'}")
            yield f"line {number}", dict(zip(columns, cells, strict=False))


def _is_header(cells: Sequence[str]) -> bool:
    return any(c.strip().lower() in _HEADER_WORDS for c in cells)


def _canonical(names: Sequence[str], kind: str) -> list[str]:
    """Header names mapped to the canonical names this kind needs (the first alias found wins)."""
    canonical = list(names)
    for wanted in _NEEDS[kind]:
        for alias in _ALIASES[wanted]:
            if alias in names and wanted not in canonical:
                canonical[names.index(alias)] = wanted
                break
    return canonical


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for location, row in read_jsonl(path, '{"sentence1": "...", "sentence2": "...", "score": 4.2}',
                                    advice="fix the line"):
        names = [k.lower() for k in row]
        values = dict(zip(names, row.values(), strict=True))
        for wanted, aliases in _ALIASES.items():
            if wanted not in values:
                found = next((a for a in aliases if a in values), None)
                if found is not None:
                    values[wanted] = values[found]
        yield location, values
