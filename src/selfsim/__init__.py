"""selfsim: self-supervised representations for search, duplicates, topics, few labels and recommendation.

The public names are loaded on first use (PEP 562), so importing one of selfsim's modules (a Ray worker
loading an encoder, a CLI command) does not load the whole facade and PyTorch with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from selfsim.version import __version__

if TYPE_CHECKING:
    from selfsim.app import Collection, Hit, IngestReport, Item, Record, Signal, encode, load_encoder, train_encoder
    from selfsim.config import ChunkingConfig, CollectionConfig, IngestConfig, SearchConfig
    from selfsim.errors import SelfsimError

_HOMES: dict[str, str] = {
    **dict.fromkeys(("Collection", "Hit", "IngestReport", "Item", "Record", "Signal", "encode", "load_encoder",
                     "train_encoder"), "selfsim.app"),
    **dict.fromkeys(("ChunkingConfig", "CollectionConfig", "IngestConfig", "SearchConfig"), "selfsim.config"),
    "SelfsimError": "selfsim.errors",
}

__all__ = ["ChunkingConfig", "Collection", "CollectionConfig", "Hit", "IngestConfig", "IngestReport", "Item",
           "Record", "SearchConfig", "SelfsimError", "Signal", "__version__", "encode", "load_encoder",
           "train_encoder"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'selfsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
