"""Interaction logs: who touched which item, when — read from files, ordered per user, and split.

Two kinds of file hold interactions:

- *event files* (JSONL, CSV/TSV or Parquet), one event per row with a user, an
  item, a timestamp and optionally an event type (``view``, ``buy``) and a
  weight;
- *sequence files* (``.txt``), one line per user, ``user item item ...`` in
  time order — the format of the public sequential-recommendation sets
  (S3-Rec, CL4SRec, ICLRec).

Readers yield ``(location, Interaction | InputError)`` and never decide what
to do about a bad line; the caller applies the error policy, as text ingest
does, and they share its care with bad files (:mod:`selfsim.data.readers`):
damage to a ``.gz``, JSON nested too deep, huge CSV fields and bad bytes are
bad lines naming the file and line. Users and items follow the id rule of
:mod:`selfsim.data.records` (``1`` and ``"1"`` are one user).
:class:`InteractionLog` holds every user's items in time order as integer
ids (1..n_items; 0 is padding), and :func:`leave_one_out` makes the standard
split: the last item of each user is the test target, the one before it the
validation target, the rest the training history.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from selfsim.data.readers import (
    FORMATS,
    check_columns,
    check_file,
    decode_lines,
    delimited_rows,
    detect_format,
    jsonl_objects,
    parquet_rows,
)
from selfsim.data.records import ID_ADVICE, as_id, id_problem
from selfsim.data.records import shown_value as shown
from selfsim.errors import ConfigError, InputError, RecordError

InteractionFileFormat = Literal["auto", "events", "sequences"]
SEQUENCE_SUFFIXES = (".txt", ".seq")


@dataclass(frozen=True)
class Interaction:
    """One event: ``user`` touched ``item`` at ``timestamp`` (seconds, or any increasing number)."""

    user: str
    item: str
    timestamp: float
    event: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class InteractionReadConfig:
    """How event files name their columns, and what a bad line does (``stop`` or ``skip``)."""

    user_field: str = "user"
    item_field: str = "item"
    time_field: str = "timestamp"
    event_field: str = "event"
    weight_field: str = "weight"
    format: InteractionFileFormat = "auto"
    on_error: Literal["stop", "skip"] = "stop"
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.format not in ("auto", "events", "sequences"):
            raise ConfigError(f"unknown interactions format {self.format!r}; use auto, events or sequences.")
        if self.on_error not in ("stop", "skip"):
            raise ConfigError(f"on_error must be 'stop' or 'skip', not {self.on_error!r}.")


ReadResult = tuple[str, Interaction | InputError]


def interaction_format(path: Path, config: InteractionReadConfig = InteractionReadConfig()) -> str:
    """``"sequences"`` or ``"events"`` for ``path``: as configured, else from its extension."""
    if config.format != "auto":
        return config.format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in SEQUENCE_SUFFIXES:
        return "sequences"
    if suffixes and suffixes[-1] in FORMATS:
        return "events"
    raise ConfigError(f"cannot read {path.name}: use a .jsonl, .csv, .tsv or .parquet file of events, or a .txt "
                      "file with one 'user item item ...' line per user.")


def check_interaction_file(path: str | Path, config: InteractionReadConfig = InteractionReadConfig()) -> None:
    """Raise now whatever would stop ``path`` being read at all (missing, a directory, unknown format, not
    gzip, a missing user/item/time column), so an import can fail before it creates or writes anything."""
    path = Path(path)
    check_file(path)
    if interaction_format(path, config) == "sequences":
        return
    fmt = detect_format(path)
    check_columns(path, fmt, lambda columns: _check_columns(path, columns, config),
                  lambda: _delimited(path, config, fmt))


def read_interactions(path: str | Path, config: InteractionReadConfig = InteractionReadConfig()
                      ) -> Iterator[ReadResult]:
    """Yield every interaction of ``path`` (or the error that stopped a line being one)."""
    path = Path(path)
    check_file(path)
    if interaction_format(path, config) == "sequences":
        yield from _read_sequences(path, config)
    else:
        yield from _read_events(path, config)


def _read_sequences(path: Path, config: InteractionReadConfig) -> Iterator[ReadResult]:
    # The order in the file is the time order; a running count stands in for timestamps, so a user
    # whose items continue on a later line keeps them after the earlier ones.
    clock = 0
    for number, line in decode_lines(path, config.encoding):
        if isinstance(line, InputError):
            yield line.location if isinstance(line, RecordError) else f"line {number}", line
            continue
        location = f"line {number}"
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            yield location, RecordError(path.name, location, f"has a user ({parts[0]!r}) but no items",
                                       "write 'user item item ...' or pass --on-error skip")
            continue
        bad = next(((what, token, problem) for what, token in zip(["user"] + ["item"] * (len(parts) - 1), parts,
                                                                   strict=True)
                    if (problem := id_problem(token)) is not None), None)
        if bad is not None:
            what, token, problem = bad
            yield location, RecordError(path.name, location, f"has a {what} id that {problem}",
                                        f"{ID_ADVICE}, or pass --on-error skip to leave the line out")
            continue
        user = parts[0]
        for item in parts[1:]:
            yield location, Interaction(user, item, float(clock))
            clock += 1


_EXAMPLE = '{"user": "u1", "item": "i9", "timestamp": 1700000000}'


def _read_events(path: Path, config: InteractionReadConfig) -> Iterator[ReadResult]:
    fmt = detect_format(path)
    if fmt == "parquet":
        rows = parquet_rows(path, lambda columns: _check_columns(path, columns, config), batch_size=8192)
    elif fmt == "jsonl":
        rows = jsonl_objects(path, config.encoding, _EXAMPLE)
    else:
        rows = _delimited(path, config, fmt)
    for location, raw in rows:
        if isinstance(raw, InputError):
            yield location, raw
            continue
        if fmt in ("csv", "tsv"):
            raw = {k: v for k, v in raw.items() if v != ""}  # an empty cell is a missing value
            if not raw:
                continue
        yield location, _event(raw, path.name, location, config)


def _delimited(path: Path, config: InteractionReadConfig, fmt: str) -> Iterator[tuple[str, Any]]:
    return delimited_rows(path, config.encoding, "\t" if fmt == "tsv" else ",",
                          check_columns=lambda columns: _check_columns(path, columns, config))


def _check_columns(path: Path, columns: Sequence[str], config: InteractionReadConfig) -> None:
    for name, option in ((config.user_field, "--user-field"), (config.item_field, "--item-field"),
                         (config.time_field, "--time-field")):
        if name not in columns:
            raise RecordError(path.name, "", f"has no {name!r} column (its columns are {', '.join(columns)})",
                             f"name that column with {option}")


def _event(raw: dict[str, Any], source: str, location: str,
           config: InteractionReadConfig) -> Interaction | InputError:
    ids = []
    for name, what in ((config.user_field, "user"), (config.item_field, "item")):
        value = raw.get(name)
        if value is None or value == "":
            return RecordError(source, location, f"has no {name!r} field",
                               f"give every event a user and an item, or name the field with --{what}-field")
        problem = id_problem(value)
        if problem is not None:
            return RecordError(source, location, f"has a {what} id that {problem}",
                               f"{ID_ADVICE}, or pass --on-error skip to leave the line out")
        ids.append(as_id(value))
    user, item = ids
    stamp = raw.get(config.time_field)
    if stamp is None:
        return RecordError(source, location, f"has no {config.time_field!r} field",
                          "give every event a timestamp (seconds or ISO date), or name it with --time-field")
    timestamp = _timestamp(stamp)
    if timestamp is None:
        return RecordError(source, location,
                           f"has a timestamp {shown(stamp)} that is neither a number nor an ISO date",
                           "write seconds since 1970 or a date such as 2024-05-01T12:00:00")
    weight = raw.get(config.weight_field, 1.0)
    try:
        weight = float(weight)
        if not math.isfinite(weight):
            raise ValueError
    except (TypeError, ValueError):
        return RecordError(source, location, f"has a weight {shown(raw.get(config.weight_field))} that is not "
                           "a number", "write a finite number or leave the weight out")
    event = raw.get(config.event_field)
    return Interaction(user, item, timestamp, None if event is None else str(event), weight)


def _timestamp(value: Any) -> float | None:
    """Seconds from a number or an ISO date; None for anything else, NaN, infinities and huge numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, datetime.datetime)):
        return None
    if isinstance(value, datetime.datetime):  # a Parquet timestamp column
        return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp()
    try:
        number = float(value)
    except OverflowError:
        return None
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    text = value.strip()
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def collect_interactions(paths: Sequence[str | Path], config: InteractionReadConfig = InteractionReadConfig()
                         ) -> tuple[list[Interaction], list[InputError]]:
    """Every good interaction of ``paths`` and, under ``on_error="skip"``, the bad lines skipped.

    Under ``on_error="stop"`` the first bad line raises its :class:`InputError`.
    """
    good: list[Interaction] = []
    skipped: list[InputError] = []
    for path in paths:
        for _, result in read_interactions(path, config):
            if isinstance(result, InputError):
                if config.on_error == "stop":
                    raise result
                skipped.append(result)
            else:
                good.append(result)
    return good, skipped


@dataclass
class InteractionLog:
    """Every user's items in time order, as integer item ids 1..n_items (0 is kept for padding).

    ``items[i - 1]`` is the external id of item ``i``; ``sequences[u]`` the
    items of ``users[u]`` oldest first.
    """

    users: list[str]
    items: list[str]
    sequences: list[np.ndarray]
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._item_index = {item: i + 1 for i, item in enumerate(self.items)}
        self._user_index = {user: u for u, user in enumerate(self.users)}

    @property
    def n_items(self) -> int:
        """The size of the catalogue."""
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        """The number of events over all users."""
        return int(sum(len(s) for s in self.sequences))

    def item_index(self, item: str) -> int | None:
        """The integer id of the external item id, or None when the log has never seen it."""
        return self._item_index.get(item)

    def history(self, user: str) -> np.ndarray:
        """The items of ``user`` in time order (integer ids)."""
        index = self._user_index.get(user)
        if index is None:
            raise KeyError(user)
        return self.sequences[index]

    @classmethod
    def from_interactions(cls, interactions: Iterable[Interaction], items: Sequence[str] | None = None
                          ) -> InteractionLog:
        """Group events by user and order them by time (ties keep file order).

        ``items`` fixes the catalogue (and its order); items not in it are added after it in the
        order they first appear.
        """
        per_user: dict[str, list[tuple[float, int, str]]] = {}
        catalogue: dict[str, int] = {item: i + 1 for i, item in enumerate(items or [])}
        for order, event in enumerate(interactions):
            if event.item not in catalogue:
                catalogue[event.item] = len(catalogue) + 1
            per_user.setdefault(event.user, []).append((event.timestamp, order, event.item))
        users = list(per_user)
        sequences = [np.array([catalogue[item] for _, _, item in sorted(events)], dtype=np.int64)
                     for events in per_user.values()]
        return cls(users, list(catalogue), sequences)

    @classmethod
    def from_sequences(cls, sequences: dict[str, Sequence[str]]) -> InteractionLog:
        """A log from ``{user: [item, ...]}`` already in time order."""
        return cls.from_interactions(Interaction(user, item, float(position))
                                     for user, items in sequences.items() for position, item in enumerate(items))


def read_log(path: str | Path, config: InteractionReadConfig = InteractionReadConfig()) -> InteractionLog:
    """Read a whole interaction file into an :class:`InteractionLog` (bad lines per ``config.on_error``)."""
    interactions, _ = collect_interactions([path], config)
    if not interactions:
        raise RecordError(Path(path).name, "", "holds no interactions", "give it one event or one user line at least")
    return InteractionLog.from_interactions(interactions)


@dataclass(frozen=True)
class LeaveOneOutSplit:
    """The standard split of a log: per user, the last item is for test, the one before for validation.

    ``train[u]`` is the history the model learns from; validation ranks
    ``valid_targets[u]`` after ``train[u]``, test ranks ``test_targets[u]`` after
    ``train[u]`` + ``valid_targets[u]``. Users with fewer than 3 items are kept for
    training only (their targets are 0 and they are not scored).
    """

    log: InteractionLog
    train: list[np.ndarray]
    valid_targets: np.ndarray  # (U,) int64, 0 = not scored
    test_targets: np.ndarray  # (U,) int64, 0 = not scored

    def valid_histories(self) -> list[np.ndarray]:
        """The inputs for validation: each user's training history."""
        return self.train

    def test_histories(self) -> list[np.ndarray]:
        """The inputs for test: each user's history up to and including the validation item."""
        return [np.append(history, target) if target else history
                for history, target in zip(self.train, self.valid_targets, strict=True)]

    @property
    def scored_users(self) -> np.ndarray:
        """The indices of users with validation and test targets."""
        return np.flatnonzero(self.test_targets > 0)


def leave_one_out(log: InteractionLog, min_length: int = 3) -> LeaveOneOutSplit:
    """Split ``log`` leave-one-out: last item test, second-to-last validation, the rest training."""
    train, valid, test = [], [], []
    for sequence in log.sequences:
        if len(sequence) >= min_length:
            train.append(sequence[:-2])
            valid.append(int(sequence[-2]))
            test.append(int(sequence[-1]))
        else:
            train.append(sequence)
            valid.append(0)
            test.append(0)
    return LeaveOneOutSplit(log, train, np.array(valid, dtype=np.int64), np.array(test, dtype=np.int64))
