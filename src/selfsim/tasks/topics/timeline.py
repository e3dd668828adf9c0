"""Topics over time: how many items of each topic fall in each period (day, week, month, year).

Times come from a metadata field: ISO 8601 strings (``2024-03-05``, ``2024-03-05T10:00:00Z``) or numbers
of seconds since 1970 (milliseconds when they are too large to be seconds). Items with no time, or one
that cannot be read, are counted as undated and left out of the table.

>>> timeline = topics_over_time(ids, labels, times, period="month")     # doctest: +SKIP
>>> timeline.periods, timeline.counts                                     # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from selfsim.errors import ConfigError

Period = Literal["auto", "day", "week", "month", "quarter", "year"]
PERIODS = ("auto", "day", "week", "month", "quarter", "year")
MOST_PERIODS = 10_000
_MILLISECONDS_FROM = 1e11  # a time in seconds this large lies after the year 5000: it must be milliseconds


def parse_time(value: Any) -> datetime.datetime | None:
    """A UTC datetime from an ISO 8601 string or seconds (or milliseconds) since 1970; None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None
        seconds = value / 1000.0 if abs(value) >= _MILLISECONDS_FROM else float(value)
        try:
            return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            return None
        return parsed.replace(tzinfo=datetime.UTC) if parsed.tzinfo is None else parsed.astimezone(datetime.UTC)
    return None


def period_start(moment: datetime.datetime, period: str) -> str:
    """The name of the period holding ``moment``: ``2024-03-05``, ``2024-W10``, ``2024-03``, ``2024-Q1``, ``2024``."""
    if period == "day":
        return moment.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return moment.strftime("%Y-%m")
    if period == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    if period == "year":
        return str(moment.year)
    raise ConfigError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}.")


def choose_period(times: Sequence[datetime.datetime], most: int = 60) -> str:
    """The finest period that splits the span of ``times`` into at most ``most`` periods."""
    if not times:
        return "month"
    span = (max(times) - min(times)).total_seconds() / 86400.0
    for period, days in (("day", 1), ("week", 7), ("month", 30.44), ("quarter", 91.3)):
        if span / days <= most:
            return period
    return "year"


def _every_period(first: datetime.datetime, last: datetime.datetime, period: str) -> list[str]:
    names, moment, end = [], first, period_start(last, period)
    while True:
        name = period_start(moment, period)
        if not names or names[-1] != name:
            names.append(name)
        if name == end:
            return names
        if len(names) > MOST_PERIODS:
            raise ConfigError(f"the times span more than {MOST_PERIODS:,} {period}s; choose a longer --period.")
        if period in ("day", "week"):
            moment += datetime.timedelta(days=1 if period == "day" else 7)
        else:  # the first day of the next month, quarter or year
            months = {"month": 1, "quarter": 3, "year": 12}[period]
            index = moment.year * 12 + moment.month - 1 + months
            if period == "quarter":
                index -= (moment.month - 1) % 3
            elif period == "year":
                index -= moment.month - 1
            moment = moment.replace(year=index // 12, month=index % 12 + 1, day=1)


@dataclass
class TopicTimeline:
    """``counts[p, t]``: items of topic ``topics[t]`` in period ``periods[p]`` (periods in time order)."""

    period: str
    periods: list[str]
    topics: list[int]
    counts: np.ndarray  # (P, T) int64
    undated: int = 0
    names: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: one row per period with the count of each topic."""
        return {"period": self.period, "undated": self.undated,
                "topics": [{"topic": t, "name": self.names.get(t, str(t))} for t in self.topics],
                "rows": [{"period": p, "counts": {str(t): int(c) for t, c in zip(self.topics, row, strict=True)}}
                         for p, row in zip(self.periods, self.counts.tolist(), strict=True)]}


def topics_over_time(ids: Sequence[str], labels: np.ndarray, times: Mapping[str, Any], period: str = "auto",
                     names: Mapping[int, str] | None = None) -> TopicTimeline:
    """Count the items of each topic per period; ``times`` maps item id to its time (any readable form)."""
    if period not in PERIODS:
        raise ConfigError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}.")
    labels = np.asarray(labels, dtype=np.int64)
    moments = [parse_time(times.get(item_id)) for item_id in ids]
    dated = [m for m in moments if m is not None]
    if not dated:
        raise ConfigError("no item has a readable time in that field; give ISO 8601 dates (2024-03-05) or seconds "
                          "since 1970, or name another field with --time-field.")
    if period == "auto":
        period = choose_period(dated)
    topics = sorted(int(t) for t in np.unique(labels))
    column = {t: i for i, t in enumerate(topics)}
    cells: dict[tuple[str, int], int] = {}
    for moment, label in zip(moments, labels.tolist(), strict=True):
        if moment is None:
            continue
        name = period_start(moment, period)
        cells[(name, label)] = cells.get((name, label), 0) + 1
    periods = _every_period(min(dated), max(dated), period)  # empty periods too, so a gap shows as zero
    counts = np.zeros((len(periods), len(topics)), dtype=np.int64)
    row = {name: i for i, name in enumerate(periods)}
    for (name, label), count in cells.items():
        counts[row[name], column[label]] = count
    return TopicTimeline(period, periods, topics, counts, len(moments) - len(dated), dict(names or {}))
