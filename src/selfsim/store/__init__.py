"""Store layer: SQLite as the source of truth, derived FAISS vector indexes."""
