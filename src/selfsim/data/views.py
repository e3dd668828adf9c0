"""Views of raw text for pretext tasks: the training examples self-supervised objectives learn from.

Each generator turns unlabelled text into inputs an objective compares:

- :func:`dropout_views` — SimCSE (Gao et al. 2021): the same sentence twice;
  the encoder's dropout makes the two passes differ, so the two copies are a
  positive pair and the rest of the batch negatives.
- :func:`delete_tokens` — TSDAE (Wang et al. 2021): delete a share of the
  tokens (0.6 works best in the paper); the model must rebuild the sentence
  from the pooled embedding of what is left. Tokens come from our own
  regular expression, so nothing (NLTK's punkt included) is downloaded.
- :func:`crop_pair` — contrastive crops from document structure: a sentence
  (or the title) of a document against the rest of it, as in the Inverse Cloze
  Task (Lee et al. 2019), or two random spans of one document, as in
  Contriever (Izacard et al. 2022). :func:`neighbour_pairs` pairs neighbouring
  chunks of one long document.

Every generator takes a ``numpy.random.Generator``, so a training run that
seeds it per step makes the same views again when it resumes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from selfsim.errors import ConfigError

# Words (keeping inner hyphens and apostrophes: "state-of-the-art", "don't") and single punctuation marks.
_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?%)]}'’”")
_NO_SPACE_AFTER = set("([{“$")
# A sentence ends at . ! or ? followed by space and a capital, digit or opening bracket/quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[A-Z0-9(\[\"“])")
_WORD = re.compile(r"\S+")

CropMode = Literal["ict", "spans"]


def tokenize_words(text: str) -> list[str]:
    """Split ``text`` into words and punctuation marks (no downloads, no language data)."""
    return _TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens back into text, without spaces before closing or after opening punctuation."""
    out: list[str] = []
    for token in tokens:
        if out and token not in _NO_SPACE_BEFORE and out[-1] not in _NO_SPACE_AFTER:
            out.append(" ")
        out.append(token)
    return "".join(out)


def delete_tokens(text: str, ratio: float, rng: np.random.Generator) -> str:
    """``text`` with ``round(ratio * n)`` of its ``n`` tokens deleted at random, keeping at least one.

    The deleted share is exact rather than drawn per token, so short sentences
    get the asked amount of noise too.
    """
    if not 0.0 <= ratio < 1.0:
        raise ConfigError(f"the deletion ratio must be in [0, 1), not {ratio}; TSDAE uses 0.6.")
    tokens = tokenize_words(text)
    if len(tokens) <= 1:
        return text
    deleted = min(int(round(ratio * len(tokens))), len(tokens) - 1)
    drop = set(rng.choice(len(tokens), size=deleted, replace=False).tolist())
    return detokenize([t for i, t in enumerate(tokens) if i not in drop])


def dropout_views(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """SimCSE's two views: the same texts twice (the model's dropout, active in training, makes them differ)."""
    return list(texts), list(texts)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` by a punctuation rule (good enough for abstracts and prose)."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


@dataclass(frozen=True)
class CropConfig:
    """How two views of one document are cut.

    ``mode="ict"``: the anchor is one sentence (or, with probability
    ``title_rate``, the title when one is given) and the positive is the rest
    of the document; with probability ``keep_rate`` the sentence is left in the
    rest too (the Inverse Cloze Task keeps it 10% of the time, so lexical
    overlap still counts for something). ``mode="spans"``: two independent
    random spans of ``min_ratio``-``max_ratio`` of the document's words.
    ``max_words`` caps the positive's length (the encoder truncates anyway).
    """

    mode: CropMode = "ict"
    title_rate: float = 0.2
    keep_rate: float = 0.1
    min_ratio: float = 0.1
    max_ratio: float = 0.5
    max_words: int = 200

    def __post_init__(self) -> None:
        if self.mode not in ("ict", "spans"):
            raise ConfigError(f"unknown crop mode {self.mode!r}; use 'ict' or 'spans'.")
        if not 0 < self.min_ratio <= self.max_ratio <= 1:
            raise ConfigError("crop ratios must satisfy 0 < min_ratio <= max_ratio <= 1.")


def crop_pair(text: str, rng: np.random.Generator, config: CropConfig = CropConfig(),
              title: str | None = None) -> tuple[str, str]:
    """Two views of one document: ``(anchor, positive)``, both taken from ``text`` (and ``title``)."""
    if config.mode == "ict":
        sentences = split_sentences(text)
        if title and (len(sentences) < 2 or rng.random() < config.title_rate):
            return title, _clip(text, config.max_words)
        if len(sentences) >= 2:
            pick = int(rng.integers(len(sentences)))
            rest = sentences if rng.random() < config.keep_rate else sentences[:pick] + sentences[pick + 1:]
            return sentences[pick], _clip(" ".join(rest), config.max_words)
    return random_span(text, rng, config), random_span(text, rng, config)


def random_span(text: str, rng: np.random.Generator, config: CropConfig = CropConfig()) -> str:
    """A random run of ``min_ratio``-``max_ratio`` of the words of ``text`` (at least one word)."""
    words = _WORD.findall(text)
    if len(words) <= 1:
        return text
    low = max(1, int(round(config.min_ratio * len(words))))
    high = max(low, int(round(config.max_ratio * len(words))))
    length = min(int(rng.integers(low, high + 1)), config.max_words)
    start = int(rng.integers(0, len(words) - length + 1))
    return " ".join(words[start:start + length])


def neighbour_pairs(chunks: Sequence[str]) -> list[tuple[str, str]]:
    """Neighbouring chunks of one document as positive pairs: ``(c0, c1), (c1, c2), ...``."""
    return [(chunks[i], chunks[i + 1]) for i in range(len(chunks) - 1)]


def _clip(text: str, max_words: int) -> str:
    words = _WORD.findall(text)
    return text if len(words) <= max_words else " ".join(words[:max_words])
