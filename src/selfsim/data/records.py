"""The record an input file yields: an id, a text and its metadata; and the one rule ids follow.

The id rule, the same for files, the Python API, interactions and labels:

- an id is a string; leading and trailing whitespace is dropped;
- a number becomes its JSON text: ``1`` -> ``"1"``, ``1.5`` -> ``"1.5"``, and
  ``1.0`` stays ``"1.0"`` (so ids ``1`` and ``"1"`` are one id, and a later
  record with it replaces an earlier one);
- empty or whitespace-only ids, ``null``, booleans, lists and objects, numbers
  that are not finite, ids longer than :data:`MAX_ID_LENGTH` characters and
  ids holding control characters (NUL included) or lone surrogates are bad:
  in a file they make a bad record, in the API an :class:`InputError`.

A record with no id field at all is addressed by a hash of its text (see
:func:`selfsim.data.readers.make_record`).
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

from selfsim.errors import InputError

MAX_ID_LENGTH = 1000
ID_ADVICE = (f"use a non-empty string or number of at most {MAX_ID_LENGTH:,} characters, without control "
             "characters, as each id")

# C0 and C1 controls (NUL, tab, newline, ESC, DEL...) would hide in output and break lines; a lone
# surrogate cannot be written as UTF-8 at all, so SQLite could not store it.
_BAD_ID_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class Record:
    """One item to index. ``metadata`` must be JSON-serialisable."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an id, as a phrase (``"is empty"``), or None when it can."""
    if value is None:
        return "is null"
    if isinstance(value, bool):
        return f"is {str(value).lower()}, a boolean, not a string or a number"
    if isinstance(value, (list, tuple, set, dict)):
        kind = "an object" if isinstance(value, dict) else "a list"
        return f"is {kind}, not a string or a number"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not math.isfinite(float(value)):
            return f"is {value}, not a finite number"
    elif not isinstance(value, (str, numbers.Integral, decimal.Decimal)):
        return f"is a {type(value).__name__}, not a string or a number"
    text = as_id(value)
    if not text:
        return "is empty" if value == "" else "is only whitespace"
    if len(text) > MAX_ID_LENGTH:
        return f"is {len(text):,} characters long"
    bad = _BAD_ID_CHARACTER.search(text)
    if bad is not None:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "the control character"
        return f"holds {kind} U+{ord(bad.group()):04X}"
    return None


def as_id(value: Any) -> str:
    """``value`` as an id string (numbers as their JSON text); check it with :func:`id_problem` first."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, numbers.Real):
        return repr(float(value))  # the JSON text: 1.5 -> "1.5", 1.0 -> "1.0", 1e20 -> "1e+20"
    return str(value)


def check_id(value: Any, what: str = "id") -> str:
    """``value`` as an id, or an :class:`InputError` (one sentence) when the id rule refuses it."""
    problem = id_problem(value)
    if problem is not None:
        raise InputError(f"the {what} {shown_value(value)} {problem}; {ID_ADVICE}.")
    return as_id(value)


def shown_value(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters so a huge value cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
