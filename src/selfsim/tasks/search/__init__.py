"""Search: dense, keyword and hybrid retrieval under metadata filters (``collection``), and rank fusion (``fusion``)."""
