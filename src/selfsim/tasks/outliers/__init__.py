"""Outliers: items with few neighbours within a radius, ranked, each with the reason (``detector``, pure), and
the store side (``collection.find_outliers``, ``collection.write_outliers``)."""
