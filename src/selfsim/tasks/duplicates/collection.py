"""Duplicates in a collection: run the finder over its items, and write the groups back as metadata."""

from __future__ import annotations

from typing import Any

from selfsim.errors import NotFoundError
from selfsim.store.collection import Store
from selfsim.store.filters import Filter
from selfsim.tasks.duplicates.finder import DuplicateFinder, DuplicatesConfig


def find_duplicates(store: Store, config: DuplicatesConfig = DuplicatesConfig(),
                    filter: Filter | None = None) -> DuplicateFinder:
    """Run a :class:`DuplicateFinder` over the items of a collection passing ``filter``.

    Each item is one vector, the normalised mean of its chunk vectors, read from the store.
    """
    items = {item.id: item.text for item in store.iterate(filter)}
    if not items:
        raise NotFoundError(f"{store.directory} has no items{' passing the filter' if filter else ''}; "
                           "index some items first.")
    if config.semantic:
        ids, vectors = store.item_vectors(filter)
    else:
        ids, vectors = list(items), None
    return DuplicateFinder(config).fit(ids, vectors, [items[i] for i in ids])


def write_groups(store: Store, finder: DuplicateFinder, field: str = "duplicate_group",
                 keep_field: str = "duplicate_keep") -> int:
    """Write each member's group number (``field``) and whether to keep it (``keep_field``) as metadata.

    Items that carried the fields from an earlier run but are in no group now have them removed,
    so ``search --filter "duplicate_keep!=false"`` collapses each group to its keeper. Returns
    how many items were updated.
    """
    updates: dict[str, dict[str, Any]] = {}
    for item in store.iterate({field: {"$exists": True}}):
        updates[item.id] = {field: None, keep_field: None}
    for group in finder.groups_:
        for member in group.members:
            updates[member] = {field: group.group, keep_field: member == group.keep}
    if updates:
        store.update_metadata(updates)
    return len(updates)
