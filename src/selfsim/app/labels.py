"""Labels from outside a collection: label files in and out, and labelling functions for weak supervision.

>>> rows = read_label_file("labels.tsv")                               # doctest: +SKIP
>>> with Collection.open("tickets") as tickets:                        # doctest: +SKIP
...     imported = import_labels(tickets.labels, "spam", rows)
...     export_labels(tickets.labels, "spam", "spam.jsonl")

See :mod:`selfsim.data.label_files` for the file layouts and :mod:`selfsim.tasks.classify.weak` for
how labelling functions are declared (YAML or Python).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from selfsim.data.label_files import LabelRow, read_label_file, write_label_file
from selfsim.errors import ConfigError, NotFoundError
from selfsim.store.labels import SOURCES, Label, LabelStore
from selfsim.tasks.classify.weak import LabellingFunction, function_classes, load_functions

__all__ = ["LABEL_SOURCES", "LabelImport", "LabelRow", "LabellingFunction", "check_label_source", "export_labels",
           "import_labels", "labelling_function_classes", "load_labelling_functions", "read_label_file"]

LABEL_SOURCES: tuple[str, ...] = SOURCES
"""Who can give a label: ``human``, ``pseudo``, ``weak`` or ``predicted``."""


@dataclass(frozen=True)
class LabelImport:
    """What :func:`import_labels` stored: rows read, labels written, rows that replaced an earlier row's label
    for the same item, and the label set's counts per source and class afterwards."""

    task: str
    source: str
    rows: int
    written: int
    replaced: int
    counts: dict[str, dict[str, int]]


def check_label_source(source: str) -> None:
    """Raise a :class:`~selfsim.errors.ConfigError` unless ``source`` is one of :data:`LABEL_SOURCES`."""
    if source not in LABEL_SOURCES:
        raise ConfigError(f"unknown label source {source!r}; use one of {', '.join(LABEL_SOURCES)}.")


def import_labels(labels: LabelStore, task: str, rows: Sequence[LabelRow], source: str = "human") -> LabelImport:
    """Store ``rows`` (from :func:`read_label_file`) as ``source`` labels of ``task`` in one transaction.

    A row names its item by id or by the item's exact text; a text that matches no item is a
    :class:`~selfsim.errors.NotFoundError` and nothing is written. A later row naming an item already
    labelled earlier in ``rows`` replaces that label.
    """
    check_label_source(source)
    by_text = labels.ids_for_texts([r.text for r in rows if r.item_id is None and r.text is not None])
    unknown = [r.text for r in rows if r.item_id is None and r.text not in by_text]
    if unknown:
        raise NotFoundError(f"{len(unknown)} labelled texts match no item's text exactly (first: "
                            f"{(unknown[0] or '')[:60]!r}); index them first or label them by id.")
    stored = [Label(r.item_id or by_text[r.text or ""], r.label, source, r.confidence) for r in rows]
    written = labels.put(task, stored)
    counts = labels.info(task).counts
    replaced = len(stored) - len({label.item_id for label in stored})
    return LabelImport(task, source, len(rows), written, replaced, counts)


def export_labels(labels: LabelStore, task: str, path: str | Path, sources: Sequence[str] | None = None) -> int:
    """Write ``task``'s labels to a ``.tsv``, ``.csv`` or ``.jsonl`` file, one per item: from the first of
    ``sources`` that has one (every source when None, by :meth:`LabelStore.get`'s preference); returns how many
    were written."""
    chosen = labels.get(task, list(sources) if sources else None)
    return write_label_file(path, ({"id": lab.item_id, "label": lab.label, "source": lab.source,
                                    "confidence": lab.confidence,
                                    **({"probabilities": lab.probabilities} if lab.probabilities else {})}
                                   for lab in chosen))


def load_labelling_functions(path: str | Path) -> list[LabellingFunction]:
    """The labelling functions declared in a YAML (``.yaml``/``.yml``) or Python (``.py``) file."""
    return load_functions(path)


def labelling_function_classes(functions: Sequence[LabellingFunction]) -> list[str]:
    """The classes the keyword and regex functions among ``functions`` vote for, sorted."""
    return function_classes(functions)
