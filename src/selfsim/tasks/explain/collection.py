"""Explanations of a collection's answers: the one module of the explain package that touches the store.

Each function reads what an answer was made from (an item's text and best
passage, a pair of items, a topic's members, a saved classifier or recommender,
a user's history) and hands it to a pure explainer
(:mod:`~selfsim.tasks.explain.match`, :mod:`~selfsim.tasks.explain.classify`,
:mod:`~selfsim.tasks.explain.recommend`). Topics are explained without Shapley
values: the words that weigh most in the topic by class-based TF-IDF, beside
the items nearest its centre.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.records import check_id
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.store.collection import Store
from selfsim.store.database import StoredItem
from selfsim.store.results import ItemChunk
from selfsim.tasks.duplicates.pairs import FEATURES, PairScorer, pair_features
from selfsim.tasks.explain.classify import ClassifyExplainConfig, explain_prediction
from selfsim.tasks.explain.explanation import Explanation
from selfsim.tasks.explain.match import EmbeddingCache, MatchConfig, explain_match, explain_pair
from selfsim.tasks.explain.recommend import explain_recommendation
from selfsim.tasks.explain.shapley import ShapleyConfig
from selfsim.tasks.topics.keywords import ClassTfidf

EncoderSource = Encoder | Callable[[], Encoder]
# A stored score and the explanation's full score differ when re-encoding the passage's sentences
# (joined by single spaces) is not byte-for-byte the chunk that was embedded; beyond this, say so.
_SCORE_TOLERANCE = 1e-3
_SNIPPET = 160  # characters of an item's text shown beside a topic


def explain_search(store: Store, encoder: Encoder, query: str, item_id: str,
                   config: MatchConfig = MatchConfig()) -> Explanation:
    """Why ``item_id`` matches ``query``: Shapley values of the query's words and the sentences of the
    item's best-matching passage for their cosine similarity (the dense search score of the item).

    The passage is the chunk dense search answers with: the query is encoded and scored against
    the item's stored chunk vectors, and the best chunk is explained (its spans index that chunk's
    text, the ``text`` of a search hit). Only the dense signal is explained: keyword (BM25) scores
    and hybrid fusion, which ranks by position rather than by score, are not.
    """
    if not isinstance(query, str) or not query.strip():
        raise InputError("the query is empty; type the words whose match should be explained.")
    item = _item(store, item_id)
    cache = EmbeddingCache(encoder, config.batch_size)
    # The query as explain_match will compose it (its words joined by one space), so the cache serves it.
    query_vector = cache([" ".join(query.split())])[0]
    chunks = store.chunks_of([item.key]).get(item.key) or [ItemChunk(-1, 0, 0, len(item.text))]
    stored = _chunk_vectors(store, [c.chunk_id for c in chunks])
    scores = [float(stored[c.chunk_id] @ query_vector) if c.chunk_id in stored else -np.inf for c in chunks]
    best = int(np.argmax(scores))
    _, position, start, end = chunks[best]
    passage = item.text[start:end]
    where = (f"chunk {position} (characters {start}-{end}) of item {item.id!r}" if len(chunks) > 1
             else f"item {item.id!r}")
    explanation = explain_match(cache, query, passage, config,
                                target=f"dense similarity of the query and {where}, the passage search answers with")
    notes = list(explanation.notes)
    if len(chunks) > 1:
        notes.append(f"the item has {len(chunks)} chunks; chunk {position} matches the query best "
                     f"(stored score {scores[best]:.4f}) and is the one explained")
    if np.isfinite(scores[best]) and abs(scores[best] - explanation.full) > _SCORE_TOLERANCE:
        notes.append(f"the stored vector of the passage scores {scores[best]:.4f}; the explanation re-encodes its "
                     "sentences joined by single spaces, which scores "
                     f"{explanation.full:.4f}")
    return dataclasses.replace(explanation, notes=notes)


def explain_duplicates(store: Store, encoder: Encoder, id_a: str, id_b: str, config: MatchConfig = MatchConfig(),
                       scorer: str | Path | None = None) -> Explanation:
    """Why two items look alike: Shapley values of the sentences of both for the cosine of their texts.

    Each item is encoded whole (duplicate search compares the mean of an item's chunk vectors, which
    is the same for an item of one chunk). With ``scorer``, the path of a fused pair scorer saved by
    ``selfsim eval pairs --save``, the notes add its probability for the pair and each feature's
    share of its logit (exact for a logistic regression: weight times standardised feature).
    """
    first, second = _item(store, id_a), _item(store, id_b)
    if first.id == second.id:
        raise InputError(f"both ids are {first.id!r}; give two different items to compare.")
    explanation = explain_pair(encoder, first.text, second.text, config,
                               target=f"cosine similarity of items {first.id!r} and {second.id!r}")
    if scorer is None:
        return explanation
    return dataclasses.replace(explanation, notes=[*explanation.notes, *_scorer_notes(
        Path(scorer), first.text, second.text, explanation.full)])


def _scorer_notes(path: Path, first: str, second: str, cosine: float) -> list[str]:
    pair_scorer = PairScorer.load(path)
    features = pair_features([first], [second], np.array([cosine]))
    shares = (features[0] - pair_scorer.mean_) / pair_scorer.scale_ * pair_scorer.coef_
    probability = float(pair_scorer.score(features)[0])
    order = np.argsort(-np.abs(shares), kind="stable")[:5]
    parts = ", ".join(f"{FEATURES[i]} {shares[i]:+.3f}" for i in order)
    return [f"the fused pair scorer gives a duplicate probability of {probability:.3f}; "
            f"its largest logit contributions: {parts} (intercept {pair_scorer.intercept_:+.3f})"]


def explain_classify(store: Store, encoder: EncoderSource, task: str, item_id: str, label: str | None = None,
                     config: ClassifyExplainConfig = ClassifyExplainConfig()) -> Explanation:
    """Which words or sentences of ``item_id`` pushed the ``task`` classifier toward ``label``
    (its predicted label when None); see :func:`selfsim.tasks.explain.classify.explain_prediction`.

    ``encoder`` (or a function returning it, so it is loaded only when needed) is the collection's;
    a classifier fine-tuned with its own encoder is explained with that one.
    """
    # Imported here: the classify task brings self-training, weak supervision and scikit-learn, which
    # search and duplicate explanations never need.
    from selfsim.registry import load_encoder
    from selfsim.tasks.classify.collection import load_classifier

    item = _item(store, item_id)
    probe, encoder_dir = load_classifier(store, task)
    if encoder_dir is not None:
        model = load_encoder(str(encoder_dir))
    else:
        model = encoder if isinstance(encoder, Encoder) else encoder()
    return explain_prediction(model, probe, item.text, label, config)


def explain_recommend(store: Store, item_id: str, user: str | None = None, history: list[str] | None = None,
                      config: ShapleyConfig = ShapleyConfig()) -> Explanation:
    """Which items of a user's history drove the recommender to score ``item_id``; see
    :func:`selfsim.tasks.explain.recommend.explain_recommendation`.

    Give a known ``user`` (their history comes from the collection's interactions, keeping the items
    the recommender knows) or an anonymous ``history`` of item ids, oldest first.
    """
    # Imported here: the recommend task brings the sequence model and its training, which other
    # explanations never need.
    from selfsim.tasks.recommend.collection import load_recommender

    if (user is None) == (history is None):
        raise ConfigError("give either a user (--user U) or a history (--history i1,i2,...), not both or neither.")
    recommender = load_recommender(store)
    if user is not None:
        history = [item for item in store.interactions.history(user) if item in recommender.index]
        if not history:
            raise NotFoundError(f"none of the items of user {user!r} are known to the recommender; retrain it "
                                "after importing their interactions.")
    return explain_recommendation(recommender, list(history or []), item_id, config)


# -- topics ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicItem:
    """An item near a topic's centre: its id, cosine similarity to the centre and the start of its text."""

    id: str
    similarity: float
    snippet: str


@dataclass(frozen=True)
class TopicExplanation:
    """What defines a topic: its words by c-TF-IDF weight and its items nearest the centre.

    ``topic`` is the value of ``field`` shared by the topic's items; ``topics`` how many topics the
    weights were computed against (a word weighs more the fewer other topics use it).
    """

    topic: Any
    field: str
    size: int
    topics: int
    words: list[tuple[str, float]]
    items: list[TopicItem]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = dataclasses.asdict(self)
        data["words"] = [{"word": word, "weight": weight} for word, weight in self.words]
        return data


def explain_topic(store: Store, topic: Any, field: str = "cluster", keywords: int = 10,
                  items: int = 5) -> TopicExplanation:
    """The words and items that define ``topic``, the value of metadata ``field`` written by
    ``selfsim cluster --write`` (or any field that groups items, such as a category).

    Word weights are recomputed by class-based TF-IDF over every item carrying ``field``, grouped by
    its value (``-1``, noise, joins no group); the items shown are those whose vectors lie nearest
    the topic's centre, the normalised mean of its item vectors. ``topic`` may be given as text
    (``"3"`` for the topic stored as 3).
    """
    if keywords < 1 or items < 1:
        raise ConfigError(f"keywords and items must be at least 1, not {keywords} and {items}.")
    members = list(store.iterate({field: {"$exists": True}}))
    values = [item.metadata.get(field) for item in members]
    groups = list(dict.fromkeys(_group_key(v) for v in values if _is_topic(v)))
    if not groups:
        raise NotFoundError(f"no item in {store.directory} has a {field!r} field; run "
                            f"`selfsim cluster {store.directory} --write` first, or name another field.")
    wanted = _resolve(topic, groups)
    if wanted is None:
        shown = ", ".join(str(g[1]) for g in groups[:10]) + (", ..." if len(groups) > 10 else "")
        raise NotFoundError(f"no topic {topic!r} in the {field!r} field; the topics are {shown}.")
    if wanted[1] == -1:
        raise InputError("topic -1 holds the items no cluster took (noise), which has no words of its own; "
                         "pick another topic.")
    index = {key: i for i, key in enumerate(groups)}
    labels = np.array([index[_group_key(v)] if _is_topic(v) and v != -1 else -1 for v in values], dtype=np.int64)
    tfidf = ClassTfidf(top_n=keywords).fit([item.text for item in members], labels)
    ids, vectors = store.item_vectors({field: wanted[1]})
    texts = {item.id: item.text for item, label in zip(members, labels, strict=True) if label == index[wanted]}
    centre = vectors.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    similarity = vectors @ centre
    nearest = [TopicItem(ids[i], round(float(similarity[i]), 6), _snippet(texts.get(ids[i], "")))
               for i in np.argsort(-similarity, kind="stable")[:items]]
    noise = int(sum(1 for v in values if v == -1))
    notes = [f"{noise} items in topic -1 (noise) were left out of the word weights"] if noise else []
    return TopicExplanation(wanted[1], field, len(ids), int((np.unique(labels) >= 0).sum()),
                            tfidf.keywords_.get(index[wanted], []), nearest, notes)


def _is_topic(value: Any) -> bool:
    """Scalars name topics; lists and objects in the field cannot be matched by a filter."""
    return value is not None and isinstance(value, (str, int, float, bool))


def _group_key(value: Any) -> tuple[str, Any]:
    # The type goes in the key: 1, 1.0 and True hash alike in Python but are different JSON values.
    return type(value).__name__, value


def _resolve(topic: Any, groups: list[tuple[str, Any]]) -> tuple[str, Any] | None:
    """The stored topic ``topic`` names: the value itself, or the one whose text it is (``"3"`` for 3)."""
    if _is_topic(topic) and _group_key(topic) in groups:
        return _group_key(topic)
    return next((g for g in groups if str(g[1]) == str(topic).strip()), None)


def _snippet(text: str) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= _SNIPPET else flat[:_SNIPPET - 1] + "…"


# -- reading the store -------------------------------------------------------------------------------


def _item(store: Store, item_id: str) -> StoredItem:
    item = store.get(check_id(item_id))
    if item is None:
        raise NotFoundError(f"no item with id {item_id!r} in {store.directory}; check the id.")
    return item


def _chunk_vectors(store: Store, chunk_ids: list[int]) -> dict[int, np.ndarray]:
    """Stored vectors of the chunks, by chunk id, under the collection's active encoder."""
    found: dict[int, np.ndarray] = {}
    wanted = [c for c in chunk_ids if c >= 0]
    if wanted:
        for ids, vectors in store.vectors(wanted):
            found.update(zip(ids.tolist(), vectors, strict=True))
    return found
