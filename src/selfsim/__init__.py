"""selfsim: self-supervised representations for search, duplicates, topics, few labels and recommendation."""

from selfsim.app import Collection
from selfsim.config import ChunkingConfig, CollectionConfig, IngestConfig, SearchConfig
from selfsim.data.records import Record
from selfsim.errors import SelfsimError
from selfsim.store.database import StoredItem as Item
from selfsim.tasks.ingest import IngestReport
from selfsim.tasks.search import Hit, Signal

__version__ = "0.1.0"

__all__ = ["ChunkingConfig", "Collection", "CollectionConfig", "Hit", "IngestConfig", "IngestReport", "Item",
           "Record", "SearchConfig", "SelfsimError", "Signal", "__version__"]
