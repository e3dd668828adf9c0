"""Helpers the CLI and the HTTP service share for turning user input and results into what people see."""

from __future__ import annotations

from collections.abc import Sequence

from selfsim.store.filters import Filter, parse_filter_expressions
from selfsim.tasks.explain.explanation import Explanation
from selfsim.tasks.explain.render import html_fragment, sides


def parse_filter(expressions: Sequence[str]) -> Filter | None:
    """A filter from expressions such as ``kind=function``, ``year>=2020``, ``area in a,b`` or ``tags has urgent``
    (all must hold);
    None for no expressions. A bad expression is an :class:`~selfsim.errors.InputError` saying how to write it."""
    return parse_filter_expressions(list(expressions)) or None


def explanation_html(explanation: Explanation) -> dict[str, str]:
    """For each side of an explanation (``query``, ``item``, ``history``...), an escaped HTML fragment with
    every feature highlighted by the sign and strength of its Shapley value."""
    return {side: html_fragment(explanation, side) for side in sides(explanation)}
