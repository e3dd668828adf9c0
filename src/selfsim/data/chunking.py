"""Split long texts into overlapping windows of words.

Windows are cut on whitespace and keep character offsets into the original
text, so a search hit can show exactly the passage that matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfsim.config import ChunkingConfig

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """One window of a text: its position among the text's chunks and its character span."""

    position: int
    start: int
    end: int
    text: str


def chunk_text(text: str, config: ChunkingConfig = ChunkingConfig()) -> list[Chunk]:
    """Cut ``text`` into windows of at most ``max_words`` words overlapping by ``overlap_words``.

    A text no longer than one window is one chunk holding the whole (stripped) text.
    The last window is pulled back so it is full length rather than a short tail.
    """
    spans = [match.span() for match in _WORD.finditer(text)]
    if not spans:
        return []
    if len(spans) <= config.max_words:
        return [Chunk(0, spans[0][0], spans[-1][1], text[spans[0][0]:spans[-1][1]])]
    stride = config.max_words - config.overlap_words
    starts = list(range(0, len(spans) - config.max_words, stride)) + [len(spans) - config.max_words]
    chunks = []
    for position, first in enumerate(starts):
        start, end = spans[first][0], spans[first + config.max_words - 1][1]
        chunks.append(Chunk(position, start, end, text[start:end]))
    return chunks
