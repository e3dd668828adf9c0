"""Why two texts are similar: Shapley values of their words or sentences for the encoder's cosine.

The players are the units of both texts (a query's words and an item's sentences
for a search hit; the sentences of both items for a duplicate pair). The value of
a coalition is the cosine similarity of the two texts made of the present units
only (the others removed); when one side has no unit present there is nothing to
compare and the value is 0. Every coalition's texts go through the encoder in
one batch, and a text seen before (the same subset, in another coalition or
another permutation) is embedded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selfsim.encoders.base import Encoder
from selfsim.tasks.explain.explanation import Explanation, Feature
from selfsim.tasks.explain.shapley import ShapleyConfig, occlusion, shapley_values
from selfsim.tasks.explain.units import Unit, compose, group, sentences, words


@dataclass(frozen=True)
class MatchConfig:
    """Feature caps per side (neighbouring units are merged beyond them) and the Shapley settings.

    With the defaults a short query and a passage of up to 10 sentences (at most 10 features in
    all) are explained exactly; more features are sampled.
    """

    max_query_features: int = 10
    max_item_features: int = 20
    shapley: ShapleyConfig = ShapleyConfig()
    batch_size: int = 64


class EmbeddingCache:
    """Unit vectors of texts, each text encoded once however often it is asked for."""

    def __init__(self, encoder: Encoder, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` vectors; new texts are encoded together in one call."""
        new = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if new:
            encoded = self.encoder.encode(new, batch_size=self.batch_size)
            self.vectors.update(zip(new, np.asarray(encoded, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])


def explain_units(encoder: Encoder | EmbeddingCache, left: Sequence[Unit], right: Sequence[Unit],
                  sides: tuple[str, str], config: ShapleyConfig = ShapleyConfig(), kind: str = "search",
                  target: str = "", texts: dict[str, str] | None = None,
                  notes: Sequence[str] = (), costly_right: bool = False) -> Explanation:
    """Shapley values of ``left`` and ``right`` units for the cosine of the two composed texts
    (``costly_right``: the right texts are much longer, see :func:`shapley_values`)."""
    embed = encoder if isinstance(encoder, EmbeddingCache) else EmbeddingCache(encoder)
    n_left = len(left)

    def value(masks: np.ndarray) -> np.ndarray:
        left_texts = [compose(left, row[:n_left]) for row in masks]
        right_texts = [compose(right, row[n_left:]) for row in masks]
        both = np.array([bool(a) and bool(b) for a, b in zip(left_texts, right_texts, strict=True)])
        scores = np.zeros(len(masks))
        if both.any():
            chosen = np.flatnonzero(both)
            a = embed([left_texts[i] for i in chosen])
            b = embed([right_texts[i] for i in chosen])
            scores[chosen] = np.einsum("ij,ij->i", a, b)
        return scores

    n = n_left + len(right)
    # The right side (an item's sentences) costs far more to encode than a query's words: sampling
    # shares its orders across permutations so fewer distinct passages are encoded.
    costly = np.arange(n) >= n_left if costly_right else None
    attribution = shapley_values(value, n, config, costly)
    leave_one_out, _, _ = occlusion(value, n)
    errors = attribution.standard_errors
    features = [Feature(sides[0] if i < n_left else sides[1], unit.text, unit.start, unit.end,
                        float(attribution.values[i]), None if errors is None else float(errors[i]),
                        float(leave_one_out[i]))
                for i, unit in enumerate([*left, *right])]
    return Explanation(kind, target, features, attribution.full, attribution.empty, attribution.exact,
                       attribution.permutations, attribution.coalitions, attribution.seconds, dict(texts or {}),
                       list(notes))


def explain_match(encoder: Encoder | EmbeddingCache, query: str, passage: str, config: MatchConfig = MatchConfig(),
                  target: str = "") -> Explanation:
    """How each word of ``query`` and each sentence of ``passage`` made their cosine similarity."""
    query_units, passage_units = words(query), sentences(passage)
    left = group(query_units, query, config.max_query_features)
    right = group(passage_units, passage, config.max_item_features)
    notes = _merged_notes([("query words", query_units, left, "phrases"),
                           ("item sentences", passage_units, right, "passages")])
    return explain_units(encoder, left, right, ("query", "item"), config.shapley, "search",
                         target or "cosine similarity of the query and the item", {"query": query, "item": passage},
                         notes, costly_right=True)


def explain_pair(encoder: Encoder | EmbeddingCache, first: str, second: str, config: MatchConfig = MatchConfig(),
                 target: str = "") -> Explanation:
    """How each sentence of two items made their cosine similarity (why they look like duplicates)."""
    half = max(1, (config.max_query_features + config.max_item_features) // 2)
    first_units, second_units = sentences(first), sentences(second)
    left, right = group(first_units, first, half), group(second_units, second, half)
    notes = _merged_notes([("sentences of the first item", first_units, left, "passages"),
                           ("sentences of the second item", second_units, right, "passages")])
    return explain_units(encoder, left, right, ("first", "second"), config.shapley, "duplicates",
                         target or "cosine similarity of the two items", {"first": first, "second": second}, notes)


def _merged_notes(parts: list[tuple[str, Sequence[Unit], Sequence[Unit], str]]) -> list[str]:
    return [f"{len(units)} {what} were merged into {len(kept)} {into} to keep the cost down"
            for what, units, kept, into in parts if len(kept) < len(units)]
