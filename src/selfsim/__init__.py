"""selfsim: self-supervised representations for search, duplicates, topics, few labels and recommendation."""

from selfsim.app import (
    Collection,
    Hit,
    IngestReport,
    Item,
    Record,
    Signal,
    encode,
    load_encoder,
    train_encoder,
)
from selfsim.config import ChunkingConfig, CollectionConfig, IngestConfig, SearchConfig
from selfsim.errors import SelfsimError
from selfsim.version import __version__

__all__ = ["ChunkingConfig", "Collection", "CollectionConfig", "Hit", "IngestConfig", "IngestReport", "Item",
           "Record", "SearchConfig", "SelfsimError", "Signal", "__version__", "encode", "load_encoder",
           "train_encoder"]
