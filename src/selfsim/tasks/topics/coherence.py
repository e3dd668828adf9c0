"""How good a set of topics is without labels: NPMI coherence and topic diversity.

* **NPMI coherence** (Bouma 2009; Röder et al. 2015): for every pair of a
  topic's top words, ``log(P(a, b) / (P(a) P(b))) / -log P(a, b)``, from how
  often the words occur together in the corpus, averaged over pairs and then
  topics. In [-1, 1]; higher means the top words really do go together.
  Probabilities come from boolean sliding windows of ``window`` tokens (10, as
  gensim's ``c_npmi`` which OCTIS and the BERTopic paper use) or, with
  ``window=None``, from whole documents.
* **gensim's c_npmi** (``method="c_npmi"``, or :func:`c_npmi` on tokenised
  texts): the same formula, counted as gensim 4's ``CoherenceModel`` counts, so
  figures can be set beside published ones. It differs from the boolean window
  above in two ways. Its window slides by dropping the token that leaves and
  adding the one that enters, so a word that occurs twice within a window is
  lost from the following windows as soon as its first copy leaves, although its
  second copy is still inside them (gensim's ``WordOccurrenceAccumulator``). And a
  topic word that no text contains is dropped from the topic (before the top-N
  cut) where selfsim scores each of its pairs -1. Pairs follow gensim's
  "one-pre" segmentation (each word with every word before it); NPMI is
  symmetric, so that order changes no figure. A topic left with fewer than two
  known words scores NaN, as in gensim. It also counts in float64 where the
  selfsim method counts in float32 (about 1e-7 apart, and a pair in every
  window is NaN there, -1 in gensim).
* **Topic diversity** (Dieng et al. 2020): the share of distinct words among
  all topics' top 25; 1 means no two topics share a top word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

from selfsim.errors import ConfigError
from selfsim.tasks.topics.keywords import VocabularyConfig

_EPSILON = 1e-12  # as gensim: keeps log finite for pairs that never co-occur

CoherenceMethod = Literal["selfsim", "c_npmi"]
COHERENCE_METHODS: tuple[str, ...] = ("selfsim", "c_npmi")


@dataclass(frozen=True)
class CoherenceConfig:
    """Top words per topic scored, the window (None = whole documents), the tokenisation, and the counting.

    ``method="selfsim"`` counts boolean windows (the default, and every figure selfsim reported before);
    ``method="c_npmi"`` counts as gensim's ``CoherenceModel(coherence="c_npmi")`` does (see the module notes).
    """

    top_n: int = 10
    window: int | None = 10
    vocabulary: VocabularyConfig = VocabularyConfig(min_df=1, max_df=1.0, max_features=None)
    method: CoherenceMethod = "selfsim"

    def __post_init__(self) -> None:
        if self.method not in COHERENCE_METHODS:
            raise ConfigError(f"unknown coherence method {self.method!r}; use selfsim or c_npmi.")
        if self.method == "c_npmi" and self.window is None:
            raise ConfigError("c_npmi always slides a window; give a window size (gensim's default is 10).")
        if self.window is not None and self.window < 1:
            raise ConfigError(f"the coherence window must be at least 1 token, not {self.window}.")


def _occurrences(texts: Sequence[str], words: list[str], config: CoherenceConfig) -> tuple[sparse.csr_matrix, int]:
    """Boolean (units x words) occurrence matrix over windows or documents, and the number of units."""
    analyzer = config.vocabulary.vectorizer(len(texts)).build_analyzer()
    column = {word: n for n, word in enumerate(words)}
    blocks, units = [], 0
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for text in texts:
        tokens = analyzer(text)
        ids = np.array([column.get(t, -1) for t in tokens], dtype=np.int64)
        if config.window is None or len(tokens) <= config.window:
            present = np.unique(ids[ids >= 0])
            rows.append(np.full(len(present), units))
            cols.append(present)
            units += 1
            continue
        windows = len(tokens) - config.window + 1
        hits = np.nonzero(ids >= 0)[0]
        if len(hits):
            # A token at position p lies in the windows starting at max(0, p - w + 1) .. min(p, windows - 1).
            starts = np.maximum(hits - config.window + 1, 0)
            ends = np.minimum(hits, windows - 1)
            spans = ends - starts + 1
            window_ids = np.repeat(starts, spans) + (np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans,
                                                                                          spans))
            rows.append(units + window_ids)
            cols.append(np.repeat(ids[hits], spans))
        units += windows
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
        matrix = sparse.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(units, len(words)))
        matrix.data[:] = 1.0  # repeated words in one unit count once
        blocks.append(matrix)
    return (blocks[0] if blocks else sparse.csr_matrix((units, len(words)))), units


def npmi_coherence(topics: Sequence[Sequence[str]], texts: Sequence[str],
                   config: CoherenceConfig = CoherenceConfig()) -> tuple[float, list[float]]:
    """Mean NPMI of the topics' top words over ``texts``, and each topic's own value.

    ``config.method`` picks selfsim's boolean windows or gensim's ``c_npmi`` counting; both tokenise the texts
    with ``config.vocabulary``.
    """
    if config.method == "c_npmi":
        analyzer = config.vocabulary.vectorizer(len(texts)).build_analyzer()
        return c_npmi(topics, [analyzer(text) for text in texts], window=config.window or 10, top_n=config.top_n)
    topics = [list(topic)[: config.top_n] for topic in topics]
    words = sorted({word for topic in topics for word in topic})
    if not words or not texts:
        return 0.0, [0.0] * len(topics)
    occurrences, units = _occurrences(texts, words, config)
    occurrences = occurrences.tocsc()
    occurrences.data = (occurrences.data > 0).astype(np.float32)
    single = np.asarray(occurrences.sum(axis=0)).ravel() / units
    joint = (occurrences.T @ occurrences).toarray() / units
    column = {word: n for n, word in enumerate(words)}
    per_topic = []
    for topic in topics:
        values = []
        for i, first in enumerate(topic):
            for second in topic[i + 1:]:
                a, b = column[first], column[second]
                p_ab = joint[a, b] + _EPSILON
                if single[a] == 0 or single[b] == 0:
                    values.append(-1.0)  # a word the corpus never shows cannot cohere
                    continue
                values.append(float(np.log(p_ab / (single[a] * single[b])) / -np.log(p_ab)))
        per_topic.append(float(np.mean(values)) if values else 0.0)
    return float(np.mean(per_topic)) if per_topic else 0.0, per_topic


def one_pre_pairs(topic: Sequence[str]) -> list[tuple[str, str]]:
    """gensim's "one-pre" segmentation: each word paired with every word before it, in the topic's order."""
    return [(topic[later], topic[earlier]) for later in range(1, len(topic)) for earlier in range(later)]


def _gensim_windows(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(window rows, word columns, windows)`` of one document's topic words, as gensim's accumulator sees them.

    ``ids`` holds a column per token (-1 for other words). gensim keeps one set per document: the first window's
    words, then, at each step, it removes the token that leaves and adds the one that enters (in that order).
    So the occurrence at position p, entering at step e = max(0, p - w + 1), keeps its word present only until
    the first copy of that word at a position >= e leaves, which is earlier than p when the word repeats.
    """
    length = len(ids)
    if length <= window:  # one window (an empty document too: gensim counts it)
        present = np.unique(ids[ids >= 0])
        return np.zeros(len(present), dtype=np.int64), present, 1
    windows = length - window + 1
    hits = np.nonzero(ids >= 0)[0]
    if not len(hits):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), windows
    words = ids[hits]
    keys = np.sort(words * (length + 1) + hits)  # by word, then position
    entries = np.maximum(hits - window + 1, 0)
    first = keys[np.searchsorted(keys, words * (length + 1) + entries)] - words * (length + 1)
    spans = np.minimum(first + 1, windows) - entries  # present on steps entries .. first
    rows = np.repeat(entries, spans) + (np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans))
    return rows, np.repeat(words, spans), windows


def c_npmi(topics: Sequence[Sequence[str]], texts: Sequence[Sequence[str]], window: int = 10,
           top_n: int = 10) -> tuple[float, list[float]]:
    """NPMI coherence as gensim's ``CoherenceModel(coherence="c_npmi", window_size=window, topn=top_n)``.

    ``texts`` are tokenised documents (lists of words), as gensim takes them, and the dictionary is all their
    words. Returns the mean over topics and each topic's value. The counting (gensim 4.x): every document
    slides a window of ``window`` tokens one step at a time (a shorter one is one window) and each window holds
    a set of the topics' words, kept as gensim keeps it (see :func:`_gensim_windows`); P(w) and P(a, b) are
    the shares of windows holding the word / both words; a pair scores
    ``log((P(a, b) + 1e-12) / (P(a) P(b))) / -log(P(a, b) + 1e-12)`` and a topic the mean over its
    :func:`one_pre_pairs`. Topic words no text holds are dropped before the ``top_n`` cut; a topic left with
    fewer than two words scores NaN, as in gensim. Note gensim's ``topn`` defaults to 20 and selfsim's to 10.
    """
    if window < 1:
        raise ConfigError(f"the c_npmi window must be at least 1 token, not {window}.")
    known = {word for text in texts for word in text}
    topics = [[word for word in topic if word in known][:top_n] for topic in topics]
    words = sorted({word for topic in topics for word in topic})
    column = {word: n for n, word in enumerate(words)}
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    units = 0
    for text in texts:
        ids = np.fromiter((column.get(token, -1) for token in text), dtype=np.int64, count=len(text))
        found_rows, found_cols, windows = _gensim_windows(ids, window)
        rows.append(units + found_rows)
        cols.append(found_cols)
        units += windows
    if not units:
        return float("nan"), [float("nan")] * len(topics)
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    occurrences = sparse.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(units, len(words)))
    occurrences.data[:] = 1.0  # overlapping intervals of one word in one window count once
    single = np.asarray(occurrences.sum(axis=0)).ravel() / units
    joint = (occurrences.T @ occurrences).toarray() / units
    per_topic = []
    for topic in topics:
        values = []
        for later, earlier in one_pre_pairs(topic):
            a, b = column[later], column[earlier]
            p_ab = joint[a, b] + _EPSILON
            values.append(float(np.log(p_ab / (single[a] * single[b])) / -np.log(p_ab)))
        per_topic.append(float(np.mean(values)) if values else float("nan"))
    return (float(np.mean(per_topic)) if per_topic else float("nan")), per_topic


def topic_diversity(topics: Sequence[Sequence[str]], top_n: int = 25) -> float:
    """Share of distinct words among the top ``top_n`` words of all topics (1.0 = no overlap)."""
    chosen = [word for topic in topics for word in list(topic)[:top_n]]
    return len(set(chosen)) / len(chosen) if chosen else 0.0
