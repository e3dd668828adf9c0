"""The record an input file yields: an id, a text and its metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """One item to index. ``metadata`` must be JSON-serialisable."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
