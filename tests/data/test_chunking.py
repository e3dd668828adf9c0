"""Chunking: windows of words with overlap and exact character offsets."""

from __future__ import annotations

import pytest

from selfsim import ChunkingConfig
from selfsim.data.chunking import chunk_text
from selfsim.errors import ConfigError


def _words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_short_text_is_one_stripped_chunk() -> None:
    text = "  hello   there world \n"
    chunks = chunk_text(text, ChunkingConfig(max_words=5, overlap_words=1))
    assert len(chunks) == 1
    chunk = chunks[0]
    assert (chunk.position, chunk.text) == (0, "hello   there world")
    assert text[chunk.start:chunk.end] == chunk.text


def test_text_of_exactly_one_window_is_one_chunk() -> None:
    chunks = chunk_text(_words(20), ChunkingConfig(max_words=20, overlap_words=5))
    assert [c.text for c in chunks] == [_words(20)]


def test_empty_and_blank_texts_have_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []


def test_windows_overlap_and_offsets_point_into_the_text() -> None:
    text = _words(50)
    chunks = chunk_text(text, ChunkingConfig(max_words=20, overlap_words=5))
    # stride 15: windows start at words 0, 15 and 30; the last one ends at the last word
    assert [c.text.split()[0] for c in chunks] == ["w0", "w15", "w30"]
    assert [c.position for c in chunks] == [0, 1, 2]
    assert [len(c.text.split()) for c in chunks] == [20, 20, 20]
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
    assert chunks[-1].text.split()[-1] == "w49"


@pytest.mark.parametrize(("max_words", "overlap_words"), [(20, 5), (10, 0), (7, 6), (1, 0)])
def test_window_invariants_hold_for_every_length(max_words: int, overlap_words: int) -> None:
    config = ChunkingConfig(max_words=max_words, overlap_words=overlap_words)
    stride = max_words - overlap_words
    for n in range(1, 90):
        text = _words(n)
        chunks = chunk_text(text, config)
        index_of = {f"w{i}": i for i in range(n)}
        spans = [(index_of[c.text.split()[0]], index_of[c.text.split()[-1]]) for c in chunks]
        assert [c.position for c in chunks] == list(range(len(chunks)))
        assert all(text[c.start:c.end] == c.text for c in chunks)
        assert spans[0][0] == 0 and spans[-1][1] == n - 1  # first word to last word
        assert all(last - first + 1 == max_words for first, last in spans[:-1])  # full windows
        for (first_a, last_a), (first_b, last_b) in zip(spans, spans[1:], strict=False):
            assert first_a < first_b and last_a < last_b  # each window adds new words
            assert last_a - first_b + 1 >= overlap_words  # neighbours share the overlap
        assert len(chunks) <= 1 + -(-max(0, n - max_words) // stride)


def test_offsets_survive_irregular_whitespace_and_unicode() -> None:
    text = "Ünïcode  words\tand\n\nnewlines " * 10
    chunks = chunk_text(text, ChunkingConfig(max_words=7, overlap_words=2))
    assert len(chunks) > 1
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()


def test_zero_overlap_partitions_the_words() -> None:
    chunks = chunk_text(_words(40), ChunkingConfig(max_words=10, overlap_words=0))
    assert [c.text for c in chunks] == [" ".join(f"w{i}" for i in range(s, s + 10)) for s in (0, 10, 20, 30)]


@pytest.mark.parametrize(("max_words", "overlap_words"), [(0, 0), (10, 10), (10, -1), (5, 7)])
def test_impossible_chunking_configs_are_refused(max_words: int, overlap_words: int) -> None:
    with pytest.raises(ConfigError):
        ChunkingConfig(max_words=max_words, overlap_words=overlap_words)
