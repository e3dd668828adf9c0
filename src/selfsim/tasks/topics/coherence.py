"""How good a set of topics is without labels: NPMI coherence and topic diversity.

* **NPMI coherence** (Bouma 2009; Röder et al. 2015): for every pair of a
  topic's top words, ``log(P(a, b) / (P(a) P(b))) / -log P(a, b)``, from how
  often the words occur together in the corpus, averaged over pairs and then
  topics. In [-1, 1]; higher means the top words really do go together.
  Probabilities come from boolean sliding windows of ``window`` tokens (10, as
  gensim's ``c_npmi`` which OCTIS and the BERTopic paper use) or, with
  ``window=None``, from whole documents.
* **Topic diversity** (Dieng et al. 2020): the share of distinct words among
  all topics' top 25; 1 means no two topics share a top word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from selfsim.tasks.topics.keywords import VocabularyConfig

_EPSILON = 1e-12  # as gensim: keeps log finite for pairs that never co-occur


@dataclass(frozen=True)
class CoherenceConfig:
    """Top words per topic scored, the window (None = whole documents), and the tokenisation."""

    top_n: int = 10
    window: int | None = 10
    vocabulary: VocabularyConfig = VocabularyConfig(min_df=1, max_df=1.0, max_features=None)


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
    """Mean NPMI of the topics' top words over ``texts``, and each topic's own value."""
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


def topic_diversity(topics: Sequence[Sequence[str]], top_n: int = 25) -> float:
    """Share of distinct words among the top ``top_n`` words of all topics (1.0 = no overlap)."""
    chosen = [word for topic in topics for word in list(topic)[:top_n]]
    return len(set(chosen)) / len(chosen) if chosen else 0.0
