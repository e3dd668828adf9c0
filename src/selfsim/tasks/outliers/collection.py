"""Outliers in a collection: run the detector over its item vectors, and write the outliers back as metadata."""

from __future__ import annotations

from typing import Any

from selfsim.errors import NotFoundError
from selfsim.store.collection import Store
from selfsim.store.filters import Filter
from selfsim.tasks.outliers.detector import OutlierDetector, OutliersConfig


def find_outliers(store: Store, config: OutliersConfig = OutliersConfig(),
                  filter: Filter | None = None) -> OutlierDetector:
    """Run an :class:`OutlierDetector` over the items of a collection passing ``filter``.

    Each item is one vector, the normalised mean of its chunk vectors, read from the store; neighbours
    are sought among the items passing ``filter`` only.
    """
    ids, vectors = store.item_vectors(filter)
    if not ids:
        raise NotFoundError(f"{store.directory} has no items{' passing the filter' if filter else ''}; "
                            "index some items first.")
    return OutlierDetector(config).fit(ids, vectors)


def write_outliers(store: Store, detector: OutlierDetector, field: str = "outlier") -> int:
    """Write ``field`` (true), ``<field>_score`` and ``<field>_reason`` as metadata on each outlier of ``detector``.

    Items that carried ``field`` from an earlier run but are not outliers now have the fields removed, so
    ``--filter "outlier=true"`` finds this run's outliers only. Returns how many items were updated.
    """
    score_field, reason_field = f"{field}_score", f"{field}_reason"
    updates: dict[str, dict[str, Any]] = {}
    for item in store.iterate({field: {"$exists": True}}):
        updates[item.id] = {field: None, score_field: None, reason_field: None}
    for outlier in detector.outliers_:
        updates[outlier.id] = {field: True, score_field: outlier.score, reason_field: outlier.reason}
    if updates:
        store.update_metadata(updates)
    return len(updates)
