"""Pretext-task views: deletion noise at the asked ratio, crops from one document, SimCSE's two dropout views."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from tiny_text import TINY_DOCUMENTS

from selfsim.data.views import (
    CropConfig,
    crop_pair,
    delete_tokens,
    detokenize,
    dropout_views,
    neighbour_pairs,
    random_span,
    split_sentences,
    tokenize_words,
)
from selfsim.errors import ConfigError


def test_tokens_round_trip_and_keep_words_whole() -> None:
    text = "State-of-the-art models don't need NLTK (really), do they?"
    tokens = tokenize_words(text)
    assert tokens[:3] == ["State-of-the-art", "models", "don't"] and "(" in tokens and tokens[-1] == "?"
    assert detokenize(tokens) == text


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.6, 0.9])
def test_deletion_removes_the_asked_share_of_tokens_and_keeps_order(ratio: float) -> None:
    text = " ".join(f"w{i}" for i in range(50))
    noisy = delete_tokens(text, ratio, np.random.default_rng(0))
    kept = noisy.split()
    assert len(kept) == 50 - round(ratio * 50)
    assert kept == sorted(kept, key=lambda w: int(w[1:]))  # survivors stay in their order


def test_deletion_keeps_one_token_is_seeded_and_downloads_nothing() -> None:
    assert len(tokenize_words(delete_tokens("a b", 0.9, np.random.default_rng(0)))) == 1
    first = delete_tokens(TINY_DOCUMENTS[0], 0.6, np.random.default_rng(3))
    assert first == delete_tokens(TINY_DOCUMENTS[0], 0.6, np.random.default_rng(3))
    assert "nltk" not in sys.modules
    with pytest.raises(ConfigError, match="deletion ratio"):
        delete_tokens("a b", 1.0, np.random.default_rng(0))


def test_simcse_views_are_the_same_texts_twice() -> None:
    first, second = dropout_views(["a", "b"])
    assert first == second == ["a", "b"] and first is not second


def test_sentences_split_on_end_punctuation() -> None:
    assert split_sentences(TINY_DOCUMENTS[0]) == ["Cells divide by mitosis.", "The cell cycle has phases.",
                                                 "Errors cause cancer in some cells."]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\S+", text))


@pytest.mark.parametrize("mode", ["ict", "spans"])
def test_crops_come_from_the_same_document(mode: str) -> None:
    rng = np.random.default_rng(0)
    config = CropConfig(mode=mode)  # type: ignore[arg-type]
    for document in TINY_DOCUMENTS:
        for _ in range(5):
            anchor, positive = crop_pair(document, rng, config)
            assert anchor and positive and anchor != document
            assert _words(anchor) <= _words(document) and _words(positive) <= _words(document)


def test_ict_anchor_is_a_sentence_and_mostly_left_out_of_the_rest() -> None:
    rng = np.random.default_rng(1)
    config = CropConfig(mode="ict", keep_rate=0.0)
    sentences = split_sentences(TINY_DOCUMENTS[1])
    for _ in range(5):
        anchor, positive = crop_pair(TINY_DOCUMENTS[1], rng, config)
        assert anchor in sentences and anchor not in positive
    title, body = crop_pair(TINY_DOCUMENTS[1], rng, CropConfig(title_rate=1.0), title="Dogs")
    assert (title, body) == ("Dogs", TINY_DOCUMENTS[1])


def test_spans_respect_their_length_bounds_and_neighbours_pair_up() -> None:
    text = " ".join(str(i) for i in range(100))
    config = CropConfig(mode="spans", min_ratio=0.2, max_ratio=0.3)
    lengths = {len(random_span(text, np.random.default_rng(s), config).split()) for s in range(20)}
    assert min(lengths) >= 20 and max(lengths) <= 30
    assert neighbour_pairs(["a", "b", "c"]) == [("a", "b"), ("b", "c")]
