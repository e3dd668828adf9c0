"""An :class:`~selfsim.app.Explanation` as people read it: a table of values, highlighted text, summary lines.

>>> explanation = collection.explain_search("reset my password", "ticket-17")   # doctest: +SKIP
>>> for row in explanation_rows(explanation):                                    # doctest: +SKIP
...     print(*row)

:func:`selfsim.app.explanation_html` gives the same highlighting as HTML fragments for a web page.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from selfsim.tasks.explain.explanation import Explanation
from selfsim.tasks.explain.render import TABLE_COLUMNS, highlight, sides, summary_lines, table_rows

__all__ = ["EXPLANATION_COLUMNS", "explanation_highlight", "explanation_rows", "explanation_sides",
           "explanation_summary"]

EXPLANATION_COLUMNS: tuple[str, ...] = TABLE_COLUMNS
"""The columns of :func:`explanation_rows`: feature, side, Shapley value, occlusion."""


def explanation_sides(explanation: Explanation) -> list[str]:
    """The sides of an explanation's features (``query``, ``item``, ``history``...), in the order they appear."""
    return sides(explanation)


def explanation_rows(explanation: Explanation, digits: int = 4) -> list[tuple[str, str, str, str]]:
    """One row per feature, most positive first, in the order of :data:`EXPLANATION_COLUMNS` (plain text, not
    escaped for any output)."""
    return table_rows(explanation, digits)


def explanation_summary(explanation: Explanation) -> list[str]:
    """The lines to show under the values: the efficiency check, exact or sampled, the notes, and whether
    leave-one-out occlusion agrees."""
    return summary_lines(explanation)


def explanation_highlight(explanation: Explanation, side: str,
                          escape: Callable[[str], str] | None = None) -> Text:
    """The text of ``side`` as rich :class:`~rich.text.Text`, each feature on a green (positive) or red (negative)
    background as strong as its value; ``escape`` is applied to every piece of text."""
    return highlight(explanation, side, escape)
