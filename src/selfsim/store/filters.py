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
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from selfsim.errors import ConfigError

Filter = Mapping[str, Any]

_FIELD = re.compile(r'^[^."]+(\.[^."]+)*$')  # any name without dots (nesting) or double quotes
_COMPARISONS = {"$eq": "=", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = (*_COMPARISONS, "$in", "$exists", "$contains")


def compile_filter(spec: Filter | None, column: str = "i.metadata") -> tuple[str, list[Any]]:
    """Return ``(sql, params)``: a WHERE clause over ``column`` (``"1"`` when there is no filter)."""
    if not spec:
        return "1", []
    if not isinstance(spec, Mapping):
        raise ConfigError("a filter must be a mapping of field to condition, such as {\"lang\": \"en\"}.")
    clauses: list[str] = []
    params: list[Any] = []
    for field, condition in spec.items():
        if not isinstance(field, str) or not _FIELD.match(field):
            raise ConfigError(f"{field!r} is not a field name; use dots only to reach nested fields "
                              "and no double quotes.")
        path = "$." + ".".join(f'"{part}"' for part in field.split("."))
        value_sql = f"json_extract({column}, ?)"
        if isinstance(condition, Mapping):
            if not condition:
                raise ConfigError(f"the condition on {field!r} is empty; give a value or an operator.")
            for operator, operand in condition.items():
                sql, args = _condition(field, path, value_sql, column, operator, operand)
                clauses.append(sql)
                params.extend(args)
        else:
            sql, args = _condition(field, path, value_sql, column, "$eq", condition)
            clauses.append(sql)
            params.extend(args)
    return " AND ".join(clauses), params


def _scalar(field: str, value: Any) -> Any:
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if isinstance(value, bool):
        return int(value)
    raise ConfigError(f"the value for {field!r} must be text, a number or a boolean, not {type(value).__name__}.")


def _condition(field: str, path: str, value_sql: str, column: str, operator: str,
               operand: Any) -> tuple[str, list[Any]]:
    if operator in _COMPARISONS:
        if isinstance(operand, bool):
            operand = int(operand)  # JSON true is 1 to SQLite
        if operand is None and operator == "$eq":
            return f"{value_sql} IS NULL", [path]
        sql = f"{value_sql} {_COMPARISONS[operator]} ?"
        if operator in ("$gt", "$gte", "$lt", "$lte"):
            # SQLite orders every text above every number; a range only compares like with like.
            kinds = "('integer', 'real')" if isinstance(operand, (int, float)) else "('text')"
            return f"(json_type({column}, ?) IN {kinds} AND {sql})", [path, path, _scalar(field, operand)]
        return sql, [path, _scalar(field, operand)]
    if operator == "$in":
        if not isinstance(operand, (list, tuple, set)) or not operand:
            raise ConfigError(f"$in on {field!r} needs a non-empty list of values.")
        values = [_scalar(field, int(v) if isinstance(v, bool) else v) for v in operand]
        marks = ", ".join("?" for _ in values)
        return f"{value_sql} IN ({marks})", [path, *values]
    if operator == "$exists":
        return (f"json_type({column}, ?) IS {'NOT ' if operand else ''}NULL", [path])
    if operator == "$contains":
        return (f"EXISTS (SELECT 1 FROM json_each({column}, ?) WHERE json_each.value = ?)",
                [path, _scalar(field, operand)])
    known = ", ".join(OPERATORS)
    raise ConfigError(f"unknown filter operator {operator!r} on {field!r}; use one of {known}.")


def parse_filter_expressions(expressions: list[str]) -> dict[str, Any]:
    """Parse command-line filters such as ``year>=2020``, ``lang=en``, ``area in text,markup``,
    ``author exists``, ``tags has urgent`` into a filter mapping.

    Values are read as JSON when they can be (numbers, true/false), as text otherwise.
    """
    spec: dict[str, dict[str, Any]] = {}
    for expression in expressions:
        match = (re.match(r"^\s*([\w.\-]+)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$", expression)
                 or re.match(r"^\s*([\w.\-]+)\s+(in|has)\s+(.+?)\s*$", expression)
                 or re.match(r"^\s*([\w.\-]+)\s+(exists|missing)\s*()$", expression))
        if not match:
            raise ConfigError(f"cannot read the filter {expression!r}; write it like year>=2020, lang=en, "
                              "area in text,markup, tags has urgent or author exists.")
        field, symbol, raw = match.groups()
        operator = {"=": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte",
                    "in": "$in", "has": "$contains", "exists": "$exists", "missing": "$exists"}[symbol]
        if symbol == "in":
            value: Any = [_literal(part.strip()) for part in raw.split(",") if part.strip()]
        elif symbol in ("exists", "missing"):
            value = symbol == "exists"
        else:
            value = _literal(raw)
        spec.setdefault(field, {})[operator] = value
    return spec


def _literal(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, (int, float, bool, str)) else raw
