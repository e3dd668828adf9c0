"""Topics: the pipeline (reduce -> cluster -> keywords, ``model``), its stages, coherence, baselines, maps,
and the store side (``collection``: fitting over a collection, what was written, the map of a collection)."""
