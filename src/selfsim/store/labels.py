"""Labels in the collection: several label sets (tasks) per collection, each label with its source.

A label says that item ``item_id`` has class ``label`` in the label set ``task``.
Its ``source`` says where it came from — a person (``human``), the
classifier's own confident guesses (``pseudo``), labelling functions
(``weak``), or a trained classifier's prediction (``predicted``) — and
``confidence`` how sure that source is (1.0 for a person). An item holds at
most one label per task and source, so a prediction never overwrites what a
person said.

The labels live in the collection's SQLite file, in the ``labels`` table of
:mod:`selfsim.store.database`; they are metadata about items, not items, so
writing them does not bump the store generation and never touches the vector
index.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from selfsim.data.records import check_id
from selfsim.errors import ConfigError, NotFoundError
from selfsim.store.database import Database

LabelSource = Literal["human", "pseudo", "weak", "predicted"]
SOURCES: tuple[str, ...] = ("human", "pseudo", "weak", "predicted")


@dataclass(frozen=True)
class Label:
    """One item's class in one label set, with where it came from and how sure that source is."""

    item_id: str
    label: str
    source: str = "human"
    confidence: float = 1.0
    probabilities: dict[str, float] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LabelSetInfo:
    """A label set's name and how many labels each source gave, per class."""

    task: str
    counts: dict[str, dict[str, int]]  # source -> class -> count

    @property
    def classes(self) -> list[str]:
        """Every class any source used, sorted."""
        return sorted({c for per_class in self.counts.values() for c in per_class})


class LabelStore:
    """The labels table of one collection database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- writes ----------------------------------------------------------------------------------

    def put(self, task: str, labels: Iterable[Label], *, replace_source: bool = False) -> int:
        """Write labels for ``task`` in one transaction; returns how many were written.

        Every item id must exist in the collection (nothing is written otherwise); ids follow the
        rule of :mod:`selfsim.data.records` (``1`` is ``"1"``, a bad id is an :class:`InputError`).
        With ``replace_source`` the task's earlier labels from the sources being
        written are removed first, so a new round of pseudo-labels or predictions
        replaces the last one instead of mixing with it.
        """
        _check_task(task)
        labels = [_with_checked_id(label) for label in labels]
        for label in labels:
            if label.source not in SOURCES:
                raise ConfigError(f"unknown label source {label.source!r}; use one of {', '.join(SOURCES)}.")
            if not str(label.label).strip():
                raise ConfigError(f"the item {label.item_id!r} has an empty label; give every item a class name.")
            if not 0.0 <= float(label.confidence) <= 1.0:
                raise ConfigError(f"the label of {label.item_id!r} has confidence {label.confidence}; "
                                  "use a number between 0 and 1.")
        missing = self._unknown_ids([label.item_id for label in labels])
        if missing:
            shown = ", ".join(repr(m) for m in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise NotFoundError(f"{len(missing)} labelled ids are not in the collection ({shown}{more}); "
                                "index those items first or fix the ids in the labels file.")
        now = time.time()
        connection = self.database.connection
        with self.database.transaction():
            if replace_source:
                for source in sorted({label.source for label in labels}):
                    connection.execute("DELETE FROM labels WHERE task = ? AND source = ?", (task, source))
            connection.executemany(
                "INSERT OR REPLACE INTO labels (task, item_id, source, label, confidence, probabilities, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(task, label.item_id, label.source, str(label.label), float(label.confidence),
                  None if label.probabilities is None else json.dumps(label.probabilities), now)
                 for label in labels])
        return len(labels)

    def delete(self, task: str, source: str | None = None) -> int:
        """Remove a task's labels (only those from ``source`` if given); returns how many went."""
        with self.database.transaction():
            if source is None:
                cursor = self.database.connection.execute("DELETE FROM labels WHERE task = ?", (task,))
            else:
                cursor = self.database.connection.execute(
                    "DELETE FROM labels WHERE task = ? AND source = ?", (task, source))
        return int(cursor.rowcount)

    # -- reads -----------------------------------------------------------------------------------

    def tasks(self) -> list[LabelSetInfo]:
        """Every label set in the collection with its counts per source and class."""
        counts: dict[str, dict[str, Counter[str]]] = {}
        for task, source, label, n in self.database.connection.execute(
                "SELECT task, source, label, COUNT(*) FROM labels GROUP BY task, source, label"):
            counts.setdefault(task, {}).setdefault(source, Counter())[label] = int(n)
        return [LabelSetInfo(task, {s: dict(c) for s, c in per_source.items()})
                for task, per_source in sorted(counts.items())]

    def info(self, task: str) -> LabelSetInfo:
        """One label set's counts; an unknown task is an error that lists the known ones."""
        for found in self.tasks():
            if found.task == task:
                return found
        known = ", ".join(t.task for t in self.tasks()) or "none yet"
        raise NotFoundError(f"no label set called {task!r} in {self.database.path.parent} (known: {known}); "
                            "import labels with `selfsim labels import` first.")

    def get(self, task: str, sources: Sequence[str] | None = None) -> list[Label]:
        """The labels of ``task`` from ``sources`` (all sources if None), for items that still exist.

        An item labelled by several of the sources appears once, from the source
        listed first in ``sources`` (default order: human, weak, pseudo, predicted).
        """
        self.info(task)  # unknown task -> one clear sentence
        order = list(sources) if sources is not None else ["human", "weak", "pseudo", "predicted"]
        for source in order:
            if source not in SOURCES:
                raise ConfigError(f"unknown label source {source!r}; use one of {', '.join(SOURCES)}.")
        marks = ", ".join("?" for _ in order)
        rows = self.database.connection.execute(
            "SELECT l.item_id, l.label, l.source, l.confidence, l.probabilities FROM labels l "
            "JOIN items i ON i.id = l.item_id "
            f"WHERE l.task = ? AND l.source IN ({marks}) ORDER BY i.key", [task, *order]).fetchall()
        rank = {source: position for position, source in enumerate(order)}
        best: dict[str, Label] = {}
        for item_id, label, source, confidence, probabilities in rows:
            current = best.get(item_id)
            if current is None or rank[source] < rank[current.source]:
                best[item_id] = Label(item_id, label, source, float(confidence),
                                      None if probabilities is None else json.loads(probabilities))
        return list(best.values())

    def ids_for_texts(self, texts: Sequence[str]) -> dict[str, str]:
        """For each text that some item has exactly, that item's id (the first one added, if several)."""
        wanted = set(texts)
        found: dict[str, str] = {}
        # One pass over the items: there is no index on text, and one scan beats one scan per text.
        for item_id, text in self.database.connection.execute("SELECT id, text FROM items ORDER BY key"):
            if text in wanted and text not in found:
                found[text] = item_id
        return found

    def _unknown_ids(self, ids: Sequence[str]) -> list[str]:
        unique = list(dict.fromkeys(ids))
        known: set[str] = set()
        for first in range(0, len(unique), 500):
            part = unique[first:first + 500]
            marks = ", ".join("?" for _ in part)
            known.update(row[0] for row in self.database.connection.execute(
                f"SELECT id FROM items WHERE id IN ({marks})", part))
        return [i for i in unique if i not in known]


def _with_checked_id(label: Label) -> Label:
    item_id = check_id(label.item_id, "item id")
    return label if item_id == label.item_id else dataclasses.replace(label, item_id=item_id)


def _check_task(task: str) -> None:
    if not task or not task.strip():
        raise ConfigError("a label set needs a name; pass --task NAME (for example --task sentiment).")
