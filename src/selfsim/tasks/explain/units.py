"""Text features for explanations: words of a query, sentences of an item, and coalitions of them as text.

A feature is a span of the original text, so an explanation can highlight it
where it stands. A coalition's text is its present spans joined by one space,
in their original order (a masked feature is removed, not replaced).
When a text has more units than an explanation can afford, neighbouring units
are merged into groups of near-equal size (words into phrases, sentences into
passages), and the explanation says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"\S+")
# A sentence ends at . ! ? (with closing quotes or brackets) followed by space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*")


@dataclass(frozen=True)
class Unit:
    """One feature: the text of a span ``[start, end)`` of its source."""

    text: str
    start: int
    end: int


def words(text: str) -> list[Unit]:
    """Whitespace-separated words (punctuation stays with its word)."""
    return [Unit(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def sentences(text: str) -> list[Unit]:
    """Sentences and lines, without the whitespace between them."""
    units, start = [], 0
    for boundary in _SENTENCE_END.finditer(text):
        _append(units, text, start, boundary.start())
        start = boundary.end()
    _append(units, text, start, len(text))
    return units


def _append(units: list[Unit], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        units.append(Unit(text[start:end], start, end))


def group(units: Sequence[Unit], source: str, most: int) -> list[Unit]:
    """At most ``most`` features: ``units`` as they are, or neighbours merged into near-equal groups."""
    if most < 1:
        return []
    if len(units) <= most:
        return list(units)
    bounds = np.linspace(0, len(units), most + 1).round().astype(int)
    merged = []
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        start, end = units[first].start, units[last - 1].end
        merged.append(Unit(source[start:end], start, end))
    return merged


def compose(units: Sequence[Unit], present: np.ndarray) -> str:
    """The text of a coalition: the present units joined by one space ("" when none is present)."""
    return " ".join(unit.text for unit, keep in zip(units, present, strict=True) if keep)
