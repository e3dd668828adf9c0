"""Evaluation: standard benchmarks for each task, scored the way published numbers are."""
