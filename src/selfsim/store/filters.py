"""Metadata filters, compiled to SQL over the items' JSON metadata.

A filter is a mapping from a field (dotted for nested fields) to a condition::

    {"lang": "en"}                          equals
    {"lang": {"$ne": "en"}}                 not equal (or missing)
    {"year": {"$gte": 2020, "$lt": 2024}}   ranges: $gt $gte $lt $lte
    {"area": {"$in": ["text", "networking"]}}
    {"author": {"$exists": True}}
    {"tags": {"$contains": "urgent"}}       a value inside a JSON list

All conditions must hold. The same filter is applied inside dense and keyword
search, so a filtered query ranks only the items that pass it.

Values are text, finite numbers, booleans or null. An integer beyond SQLite's
64-bit range is compared as the nearest float (that is how SQLite itself reads
such a number from JSON); NaN and infinity are refused, since stored metadata
never holds them. A mistake in a filter is an :class:`~selfsim.errors.InputError`;
a filter that is valid but cannot be what was meant (a field no item has, a
comparison with a type of value the field never holds) is found by
:func:`filter_warnings`.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from selfsim.errors import InputError

Filter = Mapping[str, Any]

# A field name is dot-separated parts. SQLite's JSON paths cannot quote a double quote, and match a
# backslash or control character only in its escaped JSON form, so such names could never match.
_PART = re.compile(r'^[^."\\\x00-\x1f\x7f]+$')
_COMPARISONS = {"$eq": "=", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_RANGES = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = (*_COMPARISONS, "$in", "$exists", "$contains")
MAX_CONDITIONS = 100  # SQLite nests each AND one level deeper and refuses expressions over 1,000 deep
_INT64 = (-(2**63), 2**63 - 1)


def field_path(field: Any) -> str:
    """The SQLite JSON path of a (dotted) field name; an :class:`InputError` for a name no path can reach."""
    if (not isinstance(field, str) or not field or not all(_PART.match(part) for part in field.split("."))
            or not _is_unicode(field)):
        raise InputError(f"{field!r} is not a field name; use text, with dots only to reach nested fields, and "
                         "no double quotes, backslashes or control characters.")
    return "$." + ".".join(f'"{part}"' for part in field.split("."))


def compile_filter(spec: Filter | None, column: str = "i.metadata",
                   fields: Mapping[str, str] | None = None) -> tuple[str, list[Any]]:
    """Return ``(sql, params)``: a WHERE clause over ``column`` (``"1"`` when there is no filter).

    With ``fields`` (a JSON path, as :func:`field_path` gives it, to a table alias), each field is read from
    that table's columns ``v`` (its value, as ``json_extract`` gives it) and ``t`` (its ``json_type``)
    instead of from the JSON: the same comparisons, so the same answers (see
    :mod:`selfsim.store.filter_columns`). A ``$contains`` needs the JSON and is then a ValueError.
    """
    if spec is None:
        return "1", []
    if not isinstance(spec, Mapping):
        raise InputError("a filter must be a mapping of field to condition, such as {\"lang\": \"en\"}.")
    if not spec:
        return "1", []
    clauses: list[str] = []
    params: list[Any] = []
    for field, condition in spec.items():
        path = field_path(field)
        if fields is None:
            read = _Read(f"json_extract({column}, ?)", f"json_type({column}, ?)", (path,), (column, path))
        else:
            read = _Read(f"{fields[path]}.v", f"{fields[path]}.t", (), None)
        if isinstance(condition, Mapping):
            if not condition:
                raise InputError(f"the condition on {field!r} is empty; give a value or an operator.")
            for operator, operand in condition.items():
                sql, args = _condition(field, read, operator, operand)
                clauses.append(sql)
                params.extend(args)
        else:
            sql, args = _condition(field, read, "$eq", condition)
            clauses.append(sql)
            params.extend(args)
        if len(clauses) > MAX_CONDITIONS:
            raise InputError(f"the filter holds more than {MAX_CONDITIONS} conditions; use $in for many values "
                             "of one field.")
    return " AND ".join(clauses), params


@dataclass(frozen=True)
class _Read:
    """SQL reading one field: its value (as json_extract gives it) and its JSON type (as json_type names it),
    each taking ``params``; ``json`` is the JSON column and path a ``$contains`` reads, None for plain columns."""

    value: str
    kind: str
    params: tuple[Any, ...]
    json: tuple[str, str] | None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800", which SQLite cannot store or compare
        return False
    return True


def _scalar(field: str, value: Any) -> Any:
    """``value`` as SQLite compares it with a JSON value: booleans as 0/1, huge integers as floats."""
    if value is None:
        return None
    if isinstance(value, str):
        if not _is_unicode(value):
            raise InputError(f"the value for {field!r} is not valid Unicode (it holds a lone surrogate); fix how "
                             "the text was decoded.")
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):  # int, numpy integers
        value = int(value)
        if _INT64[0] <= value <= _INT64[1]:
            return value
        try:
            return float(value)  # SQLite reads such an integer in stored JSON as a float too
        except OverflowError:
            raise InputError(f"the number for {field!r} is too large to compare; metadata numbers stay within "
                             "about 1e308.") from None
    if isinstance(value, numbers.Real):  # float, numpy floats
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"the value for {field!r} is {value}, which no stored metadata holds; use a finite "
                             "number.")
        return value
    raise InputError(f"the value for {field!r} must be text, a number or a boolean, not {type(value).__name__} "
                     "(use $in for a list of values).")


def _condition(field: str, read: _Read, operator: str, operand: Any) -> tuple[str, list[Any]]:
    if operator in _COMPARISONS:
        value = _scalar(field, operand)  # JSON true is 1 to SQLite
        if value is None and operator == "$eq":
            return f"{read.value} IS NULL", [*read.params]
        sql = f"{read.value} {_COMPARISONS[operator]} ?"
        if operator in _RANGES:
            if value is None:
                raise InputError(f"{operator} on {field!r} needs a number or text to compare with, not null.")
            # SQLite orders every text above every number; a range only compares like with like.
            kinds = "('text')" if isinstance(value, str) else "('integer', 'real')"
            return f"({read.kind} IN {kinds} AND {sql})", [*read.params, *read.params, value]
        return sql, [*read.params, value]
    if operator == "$in":
        if not isinstance(operand, (list, tuple, set, frozenset)) or not operand:
            raise InputError(f"$in on {field!r} needs a non-empty list of values.")
        values = [_scalar(field, v) for v in operand]
        # One JSON array parameter however long the list: SQLite caps the number of parameters.
        return f"{read.value} IN (SELECT value FROM json_each(?))", [*read.params, json.dumps(values)]
    if operator == "$exists":
        if not isinstance(operand, (bool, int)) or operand not in (0, 1):
            raise InputError(f"$exists on {field!r} takes true or false, not {operand!r}.")
        return f"{read.kind} IS {'NOT ' if operand else ''}NULL", [*read.params]
    if operator == "$contains":
        if read.json is None:
            raise ValueError("$contains reads the JSON itself, not a field's columns")
        column, path = read.json
        return (f"EXISTS (SELECT 1 FROM json_each({column}, ?) WHERE json_each.value = ?)",
                [path, _scalar(field, operand)])
    known = ", ".join(OPERATORS)
    nested = (f", or write a nested field as {field}.{operator}" if isinstance(operator, str)
              and not operator.startswith("$") else "")
    raise InputError(f"unknown filter operator {operator!r} on {field!r}; use one of {known}{nested}.")


# -- filters that are valid but cannot be what was meant ---------------------------------------------

_NUMBERS = ("integer", "real")  # json_type() names
_NOUNS = {"integer": ("a number", "numbers"), "real": ("a number", "numbers"), "text": ("text", "text"),
          "true": ("true or false", "booleans"), "false": ("true or false", "booleans"),
          "array": ("a list", "lists"), "object": ("an object", "objects"), "null": ("null", "nulls")}
KindsAt = Callable[[str, Sequence[str]], set[str]]


def filter_warnings(spec: Filter | None, kinds_at: KindsAt, sample: Callable[[], Iterable[Mapping[str, Any]]],
                    matched: bool = False) -> list[str]:
    """One sentence for each condition of a valid ``spec`` that the stored metadata shows cannot be what
    was meant: a field no item has, or a comparison with a type of value the field never holds (so it
    matches nothing). Empty when every condition can match.

    ``kinds_at(path, wanted)`` answers from the store: the JSON type of a value at ``path`` that is one of
    ``wanted`` (any type when ``wanted`` is empty), else every type found at ``path``; an empty set when
    no item has the field. ``sample()`` gives some items' metadata, read only to name the known fields.
    ``matched`` says the filter let some item through, which rules out every mistake that matches nothing,
    so only ``$ne`` conditions are left to check. A field that items have, with the right type, costs one
    query that stops at its first row; a field no item has costs a read of every item's metadata.
    """
    messages: list[str] = []
    checked: set[tuple[str, tuple[str, ...]]] = set()
    for field, operator, condition, wanted, described in _checks(spec or {}):
        if matched and operator != "$ne":  # the others, when mistaken, let no item through
            continue
        path = field_path(field)
        if (path, wanted) in checked:
            continue
        checked.add((path, wanted))
        found = kinds_at(path, wanted)
        if not found:
            messages.append(f"no item has the field {field!r} (fields in use include {_field_names(sample())}); "
                            "check its spelling.")
        elif wanted and not found & set(wanted):
            held = " and ".join(sorted({_NOUNS.get(kind, (kind, kind))[1] for kind in found}))
            messages.append(f"no item has {described} in the field {field!r}, only {held}, so {condition} "
                            f"matches nothing; {_hint(field, found)}.")
    return messages


def _hint(field: str, found: set[str]) -> str:
    if "array" in found:
        return f"to find a value in a list use $contains (on the command line: {field} has VALUE)"
    for kind in ("integer", "real", "text", "true", "false"):
        if kind in found:
            return f"compare it with {_NOUNS[kind][0]}"
    return f"reach inside it with a dotted name such as {field}.name"


def _checks(spec: Filter) -> Iterable[tuple[str, str, str, tuple[str, ...], str]]:
    """For each condition worth checking: ``(field, operator, the condition as written, the JSON types a
    stored value needs for it to match (empty: any), those types in words)``."""
    for field, condition in spec.items():
        conditions = condition.items() if isinstance(condition, Mapping) else [("$eq", condition)]
        for operator, operand in conditions:
            shown = f"{field} {operator} {operand!r}"
            if operator == "$exists":
                if operand:
                    yield field, operator, shown, (), ""
            elif operator in ("$ne", "$contains"):
                yield field, operator, shown, (), ""  # any type of value can be unequal; a list holds anything
            else:
                values = list(operand) if operator == "$in" else [operand]
                if any(value is None for value in values):
                    yield field, operator, shown, (), ""  # null also matches a missing field
                    continue
                kinds = [_kinds_of(value, operator) for value in values]
                described = " or ".join(dict.fromkeys(words for _, words in kinds))
                yield field, operator, shown, tuple(sorted({k for found, _ in kinds for k in found})), described


def _kinds_of(value: Any, operator: str) -> tuple[tuple[str, ...], str]:
    """The JSON types of stored values that ``value`` can match under ``operator``, and their name."""
    if isinstance(value, str):
        return ("text",), "text"
    if isinstance(value, bool) and operator not in _RANGES:
        return ("false", "integer", "true"), "true or false"  # SQLite reads JSON true and false as 1 and 0
    return _NUMBERS, "a number"


def _field_names(metadata: Iterable[Mapping[str, Any]], shown: int = 20) -> str:
    names: set[str] = set()

    def walk(value: Mapping[str, Any], prefix: str, depth: int) -> None:
        for key, inner in value.items():
            names.add(prefix + str(key))
            if isinstance(inner, Mapping) and depth < 3:
                walk(inner, f"{prefix}{key}.", depth + 1)

    for item in metadata:
        walk(item, "", 1)
    if not names:
        return "none: no item has metadata"
    ordered = sorted(names)
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(ordered[:shown]) + more


_FORMS = ("write it like year>=2020, lang=en, lang!=en, area in text,markup, tags has urgent, author exists or "
          "author missing (comparisons: = != > >= < <=; quote a value that starts with one of them, as in op=\"=>\")")
_SYMBOLS = {"=": "$eq", "==": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte",
            "in": "$in", "has": "$contains", "exists": "$exists", "missing": "$exists"}


def parse_filter_expressions(expressions: list[str]) -> dict[str, Any]:
    """Parse command-line filters such as ``year>=2020``, ``lang=en``, ``area in text,markup``,
    ``author exists``, ``tags has urgent`` into a filter mapping.

    Values are read as JSON when they can be (numbers, true/false, "quoted text"), as text otherwise.
    An expression that is not one of these forms, such as ``lines >> 3`` or ``lines=>3``, is an
    :class:`InputError` that shows the forms, never a filter that quietly matches nothing.
    """
    spec: dict[str, dict[str, Any]] = {}
    for expression in expressions:
        match = (re.match(r"^\s*([\w.\-]+)\s*(>=|<=|!=|==|=|>|<)\s*(.*?)\s*$", expression)
                 or re.match(r"^\s*([\w.\-]+)\s+(in|has)\s+(.+?)\s*$", expression)
                 or re.match(r"^\s*([\w.\-]+)\s+(exists|missing)\s*()$", expression))
        if not match:
            raise InputError(f"cannot read the filter {expression!r}; {_FORMS}.")
        field, symbol, raw = match.groups()
        if symbol in ("=", "==", "!=", ">", ">=", "<", "<="):
            if raw[:1] in ("<", ">", "=", "!", "~"):  # lines >> 3, lines => 3, lines <> 3: no such operator
                raise InputError(f"cannot read the filter {expression!r}: {symbol}{raw[:1]} is not a comparison; "
                                 f"{_FORMS}.")
            if not raw:
                raise InputError(f"the filter {expression!r} has no value after {symbol}; {_FORMS}.")
        operator = _SYMBOLS[symbol]
        if symbol == "in":
            value: Any = [_literal(part.strip()) for part in raw.split(",") if part.strip()]
        elif symbol in ("exists", "missing"):
            value = symbol == "exists"
        else:
            value = _literal(raw)
        if operator in spec.get(field, {}):
            raise InputError(f"the filter gives {field} {symbol} twice; give it once (for any of several values "
                             f"write {field} in a,b).")
        spec.setdefault(field, {})[operator] = value
    return spec


def _literal(raw: str) -> Any:
    try:  # NaN and Infinity are Python's JSON extensions; on a command line they are words
        value = json.loads(raw, parse_constant=_not_a_constant)
    except ValueError:
        return raw
    return value if isinstance(value, (int, float, bool, str)) else raw


def _not_a_constant(name: str) -> Any:
    raise ValueError(name)
