"""What every command shares: consoles, progress bars, option types and output helpers."""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from selfsim.errors import FilterWarning

BackendOption = Annotated[str, typer.Option(
    help="What runs the encoder: torch, onnx (fp32) or onnx-int8 (int8 weights).")]

# Emoji codes stay off: a text holding ":warning:" must print as written.
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)

# The tags rich's markup parser acts on (the pattern of ``rich.markup.escape``).
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
# Control characters other than newline and tab would move the cursor, recolour or retitle the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: object) -> str:
    """``value`` as text for a :class:`~rich.text.Text` (never parsed as markup): control characters
    and lone surrogates become visible escapes such as ``\\x1b``, so data cannot drive the terminal."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def safe(value: object) -> str:
    """``value`` ready to put inside a markup string (a ``console.print`` f-string, a table cell or title):
    printed verbatim, whatever brackets, backslashes or control characters it holds.

    Unlike ``rich.markup.escape`` a trailing backslash is not doubled, so it prints as one; the price is
    that a markup tag must not follow a value directly (build a :class:`~rich.text.Text` there).
    """
    return _TAG.sub(lambda match: f"{match[1]}{match[1]}\\{match[2]}", plain(value))


def warn(message: object) -> None:
    """One warning line on stderr, in yellow."""
    errors.print(f"[yellow]warning:[/] {safe(message)}", highlight=False, soft_wrap=True)


@contextmanager
def reported_warnings() -> Iterator[None]:
    """Show selfsim's warnings raised inside (a filter on a field no item has, ...) as yellow lines on stderr;
    other warnings go where they would have gone."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FilterWarning)
        try:
            yield
        finally:
            for warning in caught:
                if warning.category.__module__.startswith("selfsim"):
                    warn(warning.message)
                else:
                    warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


class RateColumn(ProgressColumn):
    """Throughput in items per second."""

    def __init__(self, unit: str = "items") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} {self.unit}/s" if speed else f"- {self.unit}/s", style="progress.data.speed")


def progress_bar(unit: str = "items") -> Progress:
    """A progress bar with count, rate, elapsed and remaining time; drawn on stderr."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(), console=errors,
                    transient=False)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, one JSON document."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def split_values(values: list[str] | None) -> list[str]:
    """Options given repeatedly or comma-separated: ``--x a --x b,c`` -> ``[a, b, c]``."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
