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
does. :class:`InteractionLog` holds every user's items in time order as integer
ids (1..n_items; 0 is padding), and :func:`leave_one_out` makes the standard
split: the last item of each user is the test target, the one before it the
validation target, the rest the training history.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from selfsim.data.readers import FORMATS, detect_format, json_object, open_parquet
from selfsim.errors import ConfigError, InputError, NotFoundError, RecordError

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


def read_interactions(path: str | Path, config: InteractionReadConfig = InteractionReadConfig()
                      ) -> Iterator[ReadResult]:
    """Yield every interaction of ``path`` (or the error that stopped a line being one)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; check the path.")
    if interaction_format(path, config) == "sequences":
        yield from _read_sequences(path, config)
    else:
        yield from _read_events(path, config)


def _read_sequences(path: Path, config: InteractionReadConfig) -> Iterator[ReadResult]:
    # The order in the file is the time order; a running count stands in for timestamps, so a user
    # whose items continue on a later line keeps them after the earlier ones.
    clock = 0
    with _open_text(path, config) as handle:
        for number, line in _lines(handle, path, config):
            location = f"line {number}"
            if isinstance(line, InputError):
                yield location, line
                return
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                yield location, RecordError(path.name, location, f"has a user ({parts[0]!r}) but no items",
                                           "write 'user item item ...' or pass --on-error skip")
                continue
            user = parts[0]
            for item in parts[1:]:
                yield location, Interaction(user, item, float(clock))
                clock += 1


def _read_events(path: Path, config: InteractionReadConfig) -> Iterator[ReadResult]:
    fmt = detect_format(path)
    if fmt == "parquet":
        yield from _read_parquet_events(path, config)
        return
    with _open_text(path, config) as handle:
        if fmt == "jsonl":
            for number, line in _lines(handle, path, config):
                if isinstance(line, InputError):
                    yield line.location, line
                    continue
                location = f"line {number}"
                if not line.strip():
                    continue
                raw = json_object(line, path, location, '{"user": "u1", "item": "i9", "timestamp": 1700000000}')
                if isinstance(raw, InputError):
                    yield location, raw
                    continue
                yield location, _event(raw, path.name, location, config)
            return
        delimiter = "\t" if fmt == "tsv" else ","
        reader = csv.DictReader(handle, delimiter=delimiter,
                                quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        try:
            columns = reader.fieldnames or []
        except UnicodeDecodeError as error:
            raise RecordError(path.name, "line 1", f"is not valid {config.encoding} ({error.reason})",
                             "re-save the file as UTF-8 or name its encoding with --encoding") from None
        _check_columns(path, columns, config)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                location = f"after line {reader.line_num}"
                yield location, RecordError(path.name, location, f"is not valid {config.encoding} ({error.reason})",
                                           "re-save the file as UTF-8 or name its encoding with --encoding")
                return
            location = f"line {reader.line_num}"
            raw = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
            if not raw:
                continue
            yield location, _event(raw, path.name, location, config)


def _read_parquet_events(path: Path, config: InteractionReadConfig) -> Iterator[ReadResult]:
    parquet = open_parquet(path)
    _check_columns(path, parquet.schema_arrow.names, config)
    number = 0
    for batch in parquet.iter_batches(batch_size=8192):
        for raw in batch.to_pylist():
            number += 1
            yield f"row {number}", _event(raw, path.name, f"row {number}", config)


def _check_columns(path: Path, columns: Sequence[str], config: InteractionReadConfig) -> None:
    for name, option in ((config.user_field, "--user-field"), (config.item_field, "--item-field"),
                         (config.time_field, "--time-field")):
        if name not in columns:
            raise RecordError(path.name, "", f"has no {name!r} column (its columns are {', '.join(columns)})",
                             f"name that column with {option}")


def _open_text(path: Path, config: InteractionReadConfig) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding=config.encoding, newline="")
    return path.open("r", encoding=config.encoding, newline="")


def _lines(handle: IO[str], path: Path, config: InteractionReadConfig) -> Iterator[tuple[int, str | InputError]]:
    number = 0
    while True:
        number += 1
        try:
            line = handle.readline()
        except UnicodeDecodeError as error:
            yield number, RecordError(path.name, f"line {number}", f"is not valid {config.encoding} ({error.reason})",
                                     "re-save the file as UTF-8 or name its encoding with --encoding")
            return
        if not line:
            return
        yield number, line


def _event(raw: dict[str, Any], source: str, location: str,
           config: InteractionReadConfig) -> Interaction | InputError:
    user, item = _field(raw, config.user_field), _field(raw, config.item_field)
    if user is None or item is None:
        missing = config.user_field if user is None else config.item_field
        return RecordError(source, location, f"has no {missing!r} field",
                          f"give every event a user and an item, or name the field with "
                          f"--{'user' if user is None else 'item'}-field")
    stamp = raw.get(config.time_field)
    if stamp is None:
        return RecordError(source, location, f"has no {config.time_field!r} field",
                          "give every event a timestamp (seconds or ISO date), or name it with --time-field")
    timestamp = _timestamp(stamp)
    if timestamp is None:
        return RecordError(source, location, f"has a timestamp {stamp!r} that is neither a number nor an ISO date",
                          "write seconds since 1970 or a date such as 2024-05-01T12:00:00")
    weight = raw.get(config.weight_field, 1.0)
    try:
        weight = float(weight)
        if not math.isfinite(weight):
            raise ValueError
    except (TypeError, ValueError):
        return RecordError(source, location, f"has a weight {raw.get(config.weight_field)!r} that is not a number",
                          "write a finite number or leave the weight out")
    event = raw.get(config.event_field)
    return Interaction(user, item, timestamp, None if event is None else str(event), weight)


def _field(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _timestamp(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
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

    def user_index(self, user: str) -> int | None:
        """The position of ``user`` in :attr:`users`, or None."""
        return self._user_index.get(user)

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
