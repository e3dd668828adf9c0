"""Why two texts are similar: Shapley values of their words or sentences for the encoder's cosine.

The players are the units of both texts (a query's words and an item's sentences
for a search hit; the sentences of both items for a duplicate pair). The value of
a coalition is the cosine similarity of the two texts made of the present units
only (the others removed); when one side has no unit present there is nothing to
compare and the value is 0. Every coalition's texts go through the encoder
together, and a text seen before (the same subset, in another coalition or
another permutation) is embedded once.

Up to ``exact_up_to`` players in all the values are exact. Beyond, the default
sampler (``"two-sided"``, :mod:`~selfsim.tasks.explain.two_sided`) enumerates
every subset of the side with fewer players and samples orders of the other;
``"permutation"`` samples joint permutations of all players
(:func:`~selfsim.tasks.explain.shapley.shapley_values`).

A coalition's value must not depend on which other texts were encoded with it:
dynamic int8 (``onnx-int8``) takes its activation scales from the whole batch,
which moves a text's vector by up to ~0.01 in cosine with the batch, as much as
a sentence's typical value. :class:`EmbeddingCache` therefore encodes one text
per call for such encoders (the vector a search query gets as well).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError
from selfsim.tasks.explain.explanation import Explanation, Feature
from selfsim.tasks.explain.shapley import Attribution, ShapleyConfig, occlusion, shapley_values
from selfsim.tasks.explain.two_sided import two_sided_shapley
from selfsim.tasks.explain.units import Unit, compose, group, sentences, words


@dataclass(frozen=True)
class MatchConfig:
    """Feature caps per side (neighbouring units are merged beyond them) and the Shapley settings.

    With the defaults a query and a passage with at most 10 features in all are explained exactly;
    more features are sampled by ``sampler`` (see the module docstring). Its 64 orders of the item
    sentences (each averaged exactly over every subset of the query words; fewer when the time budget
    ends first) were chosen over 16 on SciFact train cases drawn with seed 1 (``benchmarks/explain.py``).
    """

    max_query_features: int = 10
    max_item_features: int = 20
    shapley: ShapleyConfig = ShapleyConfig()
    batch_size: int = 64
    sampler: Literal["two-sided", "permutation"] = "two-sided"

    def __post_init__(self) -> None:
        if self.sampler not in ("two-sided", "permutation"):
            raise ConfigError(f"unknown sampler {self.sampler!r}; use 'two-sided' or 'permutation'.")


class EmbeddingCache:
    """Unit vectors of texts, each text encoded once however often it is asked for.

    ``per_text`` (None: when the encoder's backend is ``onnx-int8``) encodes each text in a call of
    its own, from ``threads`` threads, so its vector depends on the text alone (see the module
    docstring); otherwise new texts are encoded together in batches of ``batch_size``.
    """

    def __init__(self, encoder: Encoder, batch_size: int = 64, per_text: bool | None = None,
                 threads: int | None = None) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self.per_text = getattr(encoder, "backend", None) == "onnx-int8" if per_text is None else per_text
        self.threads = threads or int(getattr(encoder, "threads", 1) or 1)
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` vectors; new texts are encoded in one call (or one call each, ``per_text``)."""
        new = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if new:
            encoded = self._one_by_one(new) if self.per_text else self.encoder.encode(new, batch_size=self.batch_size)
            self.vectors.update(zip(new, np.asarray(encoded, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])

    def _one_by_one(self, texts: list[str]) -> np.ndarray:
        def one(text: str) -> np.ndarray:
            return np.asarray(self.encoder.encode([text], batch_size=1), dtype=np.float32)[0]

        first = one(texts[0])  # the first call may set the encoder up; the others then share it
        if len(texts) == 1 or self.threads < 2:
            return np.stack([first, *map(one, texts[1:])])
        # ONNX Runtime releases the GIL while it runs, so single-text calls on several threads fill the cores.
        with ThreadPoolExecutor(self.threads) as pool:
            return np.stack([first, *pool.map(one, texts[1:])])


def explain_units(encoder: Encoder | EmbeddingCache, left: Sequence[Unit], right: Sequence[Unit],
                  sides: tuple[str, str], config: ShapleyConfig = ShapleyConfig(), kind: str = "search",
                  target: str = "", texts: dict[str, str] | None = None,
                  notes: Sequence[str] = (), costly_right: bool = False,
                  sampler: str = "two-sided") -> Explanation:
    """Shapley values of ``left`` and ``right`` units for the cosine of the two composed texts.

    ``costly_right``: the right texts are much longer (the ``"permutation"`` sampler then shares
    orders of the right units, see :func:`shapley_values`; the ``"two-sided"`` one enumerates the
    side with fewer units, the left one on a tie, when its subsets cost less to encode than the
    sampled orders of the other side, and falls back to ``"permutation"`` otherwise).
    """
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
    notes = list(notes)
    short = 0 if n_left <= len(right) else 1  # the side whose subsets are all enumerated
    counts = (n_left, len(right))
    # Encoding cost grows with text length: enumerate only when the 2^a short texts cost less than the
    # sampled long ones (a query's words beside a passage, not ten sentences beside twelve).
    lengths = [sum(len(u.text) for u in units) for units in (left, right)]
    affordable = 2 ** counts[short] * lengths[short] <= config.permutations * counts[1 - short] * lengths[1 - short]
    if (sampler == "two-sided" and n > config.exact_up_to and 1 <= counts[short] <= config.exact_up_to
            and counts[1 - short] >= 1 and affordable):
        attribution = _two_sided(embed, left, right, short, config)
        notes.append(f"{sides[short]} features: averaged exactly over all {2**counts[short]:,} of their subsets; "
                     f"{sides[1 - short]} features: {attribution.permutations} sampled orders (antithetic pairs)")
    else:
        attribution = shapley_values(value, n, config, costly)
    leave_one_out, _, _ = occlusion(value, n)
    errors = attribution.standard_errors
    features = [Feature(sides[0] if i < n_left else sides[1], unit.text, unit.start, unit.end,
                        float(attribution.values[i]), None if errors is None else float(errors[i]),
                        float(leave_one_out[i]))
                for i, unit in enumerate([*left, *right])]
    return Explanation(kind, target, features, attribution.full, attribution.empty, attribution.exact,
                       attribution.permutations, attribution.coalitions, attribution.seconds, dict(texts or {}),
                       notes)


def _two_sided(embed: EmbeddingCache, left: Sequence[Unit], right: Sequence[Unit], short: int,
               config: ShapleyConfig) -> Attribution:
    """:func:`two_sided_shapley` with the ``short`` side (0 left, 1 right) enumerated, values in left-right order."""
    def side(units: Sequence[Unit]):  # noqa: ANN202 - a SideEmbedding
        def vectors(masks: np.ndarray) -> np.ndarray:
            texts = [compose(units, row) for row in masks]
            out = np.zeros((len(masks), embed.encoder.dim))
            present = [i for i, text in enumerate(texts) if text]
            if present:
                out[present] = embed([texts[i] for i in present])
            return out
        return vectors

    units = (left, right)
    result = two_sided_shapley(side(units[short]), side(units[1 - short]), len(units[short]),
                               len(units[1 - short]), config)
    if short == 0:
        return result
    cut = len(right)  # values come short side first: move the right side's back behind the left's
    values = np.concatenate([result.values[cut:], result.values[:cut]])
    errors = None if result.standard_errors is None else np.concatenate(
        [result.standard_errors[cut:], result.standard_errors[:cut]])
    return Attribution(values, errors, result.full, result.empty, result.exact, result.permutations,
                       result.coalitions, result.seconds)


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
                         notes, costly_right=True, sampler=config.sampler)


def explain_pair(encoder: Encoder | EmbeddingCache, first: str, second: str, config: MatchConfig = MatchConfig(),
                 target: str = "") -> Explanation:
    """How each sentence of two items made their cosine similarity (why they look like duplicates)."""
    half = max(1, (config.max_query_features + config.max_item_features) // 2)
    first_units, second_units = sentences(first), sentences(second)
    left, right = group(first_units, first, half), group(second_units, second, half)
    notes = _merged_notes([("sentences of the first item", first_units, left, "passages"),
                           ("sentences of the second item", second_units, right, "passages")])
    return explain_units(encoder, left, right, ("first", "second"), config.shapley, "duplicates",
                         target or "cosine similarity of the two items", {"first": first, "second": second}, notes,
                         sampler=config.sampler)


def _merged_notes(parts: list[tuple[str, Sequence[Unit], Sequence[Unit], str]]) -> list[str]:
    return [f"{len(units)} {what} were merged into {len(kept)} {into} to keep the cost down"
            for what, units, kept, into in parts if len(kept) < len(units)]
