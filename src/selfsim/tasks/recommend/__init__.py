"""Recommendation: the sequence recommender over a collection's interactions (``collection``), its blend with
co-occurrence, and the baselines."""
