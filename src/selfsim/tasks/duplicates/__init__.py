"""Duplicates: the finder and its groups (``finder``), MinHash for near-exact copies, the fused pair scorer
(``pairs``), threshold calibration, and the store side (``finder.find_duplicates``, ``finder.write_groups``)."""
