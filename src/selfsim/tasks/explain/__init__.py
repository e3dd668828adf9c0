"""Explanations: which features (words, sentences, history items) made a score, as Shapley values."""
