"""Text normalisation, hashing and shingles: the lexical view of a text that duplicate detection uses.

Two texts that differ only in case, spacing, punctuation or Unicode form are
*exact* duplicates here: :func:`normalise_text` maps them to the same string
and :func:`text_fingerprint` to the same hash. Shingles (overlapping word
n-grams) are what MinHash compares for copy-paste with small edits.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """NFKC, case-folded, punctuation and runs of whitespace turned into single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def text_fingerprint(text: str) -> str:
    """A 128-bit hex hash of :func:`normalise_text`; equal for texts that are exact duplicates."""
    return hashlib.blake2b(normalise_text(text).encode("utf-8"), digest_size=16).hexdigest()


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    normalised = normalise_text(text)
    return normalised.split(" ") if normalised else []


def shingles(text: str, size: int = 3) -> set[str]:
    """Overlapping ``size``-word shingles of the normalised text (the whole text if it is shorter)."""
    tokens = words(text)
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


def hashed_shingles(text: str, size: int = 3) -> np.ndarray:
    """The shingles of ``text`` as distinct unsigned 32-bit hashes (stable across processes)."""
    values = {int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=4).digest(), "little")
              for s in shingles(text, size)}
    return np.fromiter(values, dtype=np.uint64, count=len(values))


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
