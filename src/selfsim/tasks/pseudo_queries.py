"""Queries to adapt to: a query log read from a file, or pseudo-queries made from the collection's own texts.

A query log is what a search box collects: texts people typed, with no judgements. It may be JSONL (one
object per line with a ``query`` or ``text`` field, or a bare JSON string), TSV (the ``query``/``text``
column under a header, else the last column: ``id<TAB>text`` files work as they are) or plain text (one
query per line).

Without a log, :func:`corpus_pseudo_queries` makes queries from the items themselves, as the inverse cloze
task does (Lee, Chang & Toutanova 2019, "Latent Retrieval for Weakly Supervised Open Domain Question
Answering"): an item's title, its first sentence, or a sentence or span from inside it. What such a query
should find is left to the teacher (the collection's hybrid search), exactly as for a real log.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.errors import ConfigError, InputError, NotFoundError

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_FIELDS = ("query", "text", "question")
MIN_WORDS, MAX_WORDS = 4, 40  # a pseudo-query shorter is no question; longer is a passage, not a query


def read_query_file(path: str | Path) -> list[str]:
    """The distinct query texts of a JSONL, TSV or plain-text file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; give --queries a JSONL, TSV or text file of queries.")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if path.suffix.lower() in (".jsonl", ".json") or (lines and lines[0].lstrip().startswith(("{", '"'))):
        queries = [_json_query(line, path.name, number) for number, line in enumerate(lines, start=1)
                   if line.strip()]
    elif path.suffix.lower() in (".tsv", ".tab") or any("\t" in line for line in lines[:5]):
        queries = _tsv_queries(lines)
    else:
        queries = [line for line in lines]
    seen: dict[str, None] = {}
    for query in queries:
        text = " ".join(query.split())
        if text:
            seen.setdefault(text, None)
    if not seen:
        raise InputError(f"{path.name} holds no queries; write one query per line (or JSONL with a 'query' field).")
    return list(seen)


def _json_query(line: str, name: str, number: int) -> str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise InputError(f"{name} line {number} is not JSON; write one object per line such as "
                         '{"query": "..."}.') from None
    if isinstance(row, str):
        return row
    if isinstance(row, dict):
        for field in _FIELDS:
            if isinstance(row.get(field), str):
                return row[field]
    raise InputError(f"{name} line {number} has no 'query' or 'text' field; write {{\"query\": \"...\"}} per line.")


def _tsv_queries(lines: list[str]) -> list[str]:
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = [row for row in rows if row and any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(field) for field in _FIELDS if field in header), None)
    if column is not None:
        return [row[column] for row in rows[1:] if len(row) > column]
    return [row[-1] for row in rows]


def sentences(text: str) -> list[str]:
    """``text`` split into sentences at end punctuation followed by a capital or a digit."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def corpus_pseudo_queries(items: Iterable[tuple[str, Mapping[str, Any]]], count: int, seed: int = 0) -> list[str]:
    """``count`` pseudo-queries from a seeded sample of ``items`` (text, metadata): titles, first sentences and
    inner spans.

    Each sampled item gives one query, its kind taken in turn: the ``title`` metadata field when the item has
    one (else its first sentence), the first sentence, a random inner sentence, a random span of 8 to 20 words.
    Queries that are too short or too long to be queries are skipped.
    """
    if count < 1:
        raise ConfigError(f"make at least one pseudo-query, not {count}.")
    items = [(text, metadata) for text, metadata in items if text.strip()]
    if not items:
        raise ConfigError("the collection holds no texts to make pseudo-queries from; add items first.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items)).tolist()
    queries: dict[str, None] = {}
    turn = 0
    for position in range(len(order) * 4):  # small collections give up to one query of each kind per item
        if len(queries) >= count:
            break
        text, metadata = items[order[position % len(order)]]
        query = _pseudo_query(text, metadata, turn % 4, rng)
        turn += 1
        if query is not None:
            queries.setdefault(query, None)
    return list(queries)[:count]


def _pseudo_query(text: str, metadata: Mapping[str, Any], kind: int, rng: np.random.Generator) -> str | None:
    title = metadata.get("title")
    body = text[len(title):].strip() if isinstance(title, str) and title and text.startswith(title) else text
    parts = sentences(body)
    if kind == 0 and isinstance(title, str) and title.strip():
        query = title
    elif kind in (0, 1) or len(parts) < 2:
        query = parts[0] if parts else body
    elif kind == 2:
        query = parts[int(rng.integers(1, len(parts)))]
    else:
        words = body.split()
        if len(words) < MIN_WORDS:
            return None
        length = int(rng.integers(8, 21))
        start = int(rng.integers(0, max(1, len(words) - length)))
        query = " ".join(words[start:start + length])
    words = query.split()
    if len(words) < MIN_WORDS:
        return None
    return " ".join(words[:MAX_WORDS])


def cloze_queries(items: Iterable[tuple[str, str]], count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``count`` inverse-cloze queries with known answers: ``(item id, an inner sentence, the item's text without
    that sentence)`` from a seeded sample of ``items`` (id, text) that have at least three sentences; taking the
    sentence out keeps the answer from being found by the very words of the query."""
    rng = np.random.default_rng([seed, 11])
    found = []
    for item_id, text in items:
        parts = sentences(text)
        if len(parts) >= 3:
            found.append((item_id, parts))
    picked = rng.permutation(len(found))[:count]
    queries = []
    for index in sorted(picked.tolist()):
        item_id, parts = found[index]
        at = int(rng.integers(1, len(parts)))
        query = " ".join(parts[at].split()[:MAX_WORDS])
        if len(query.split()) >= MIN_WORDS:
            queries.append((item_id, query, " ".join(parts[:at] + parts[at + 1:])))
    return queries
