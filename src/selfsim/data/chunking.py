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
    A tail that would add fewer than ``max_words // 4`` new words is folded into the
    window before it instead of becoming a chunk of its own: embedding a near copy
    of the previous window costs a full encoder pass and adds little to search.
    """
    spans = [match.span() for match in _WORD.finditer(text)]
    if not spans:
        return []
    stride = config.max_words - config.overlap_words
    min_new = max(config.max_words // 4, 1)
    bounds: list[tuple[int, int]] = []
    first = 0
    while True:
        last = first + config.max_words
        if len(spans) - last < min_new:  # the rest is short: this window takes it
            bounds.append((first, len(spans)))
            break
        bounds.append((first, last))
        first += stride
    chunks = []
    for position, (first, last) in enumerate(bounds):
        start, end = spans[first][0], spans[last - 1][1]
        chunks.append(Chunk(position, start, end, text[start:end]))
    return chunks
