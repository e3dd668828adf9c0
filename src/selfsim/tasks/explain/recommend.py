"""Why an item was recommended: Shapley values of the history items for the item's served score.

The players are the items of the history, oldest first (only the model's last
``max_length`` items, the ones it reads). The value of a coalition is the score
the recommender serves for the explained item after the sub-history of the
present items, in their original order: the same score function as
:meth:`selfsim.tasks.recommend.collection.Recommender.recommend_many` (the model's scores,
or their blend with co-occurrence when the recommender was trained so), so the
values explain the number the user was shown.

The empty coalition is the empty history, which the served path scores too: the
model reads a history of padding only (its no-history state, a popularity-like
prior) and co-occurrence falls back to popularity. So ``v(none)`` is what the
recommender would say about the item knowing nothing of the user, and the values
add up to ``score(history) - score(no history)`` exactly.

Each coalition is one row of one forward pass; the coalitions of a round go
through the score function together, in chunks of ``batch_size`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from selfsim.errors import InputError, NotFoundError
from selfsim.tasks.explain.explanation import Explanation, Feature
from selfsim.tasks.explain.shapley import ShapleyConfig, occlusion, shapley_values

if TYPE_CHECKING:  # tasks.recommend opens the store; this module must not import it at run time
    from selfsim.tasks.recommend.collection import Recommender

# Rows per forward pass: enough to keep the model busy, small enough that a (rows, catalogue) score matrix stays
# a few tens of megabytes on a catalogue of 10,000+ items.
BATCH_SIZE = 512


def explain_recommendation(recommender: Recommender, history: Sequence[str], item: str,
                           config: ShapleyConfig = ShapleyConfig(), batch_size: int = BATCH_SIZE) -> Explanation:
    """How each item of ``history`` (oldest first) drove the served score of ``item``.

    Only the ``max_length`` most recent items are players (the model reads no more; the notes say
    when older ones were left out). The empty coalition is valued at the score after an empty
    history (see the module docstring). An item the recommender does not know is a
    :class:`~selfsim.errors.NotFoundError`. Features are history items, not spans of a text, so
    their ``start``/``end`` are -1 and ``texts`` is empty.
    """
    if item not in recommender.index:
        raise NotFoundError(f"the recommender does not know the item id {item!r}; explain an item it can "
                            "recommend (one from the interactions it was trained on).")
    ids = recommender.encode_history(list(history))  # an empty history or an unknown item is the user's error
    model = recommender.model.config
    limit = model.max_length - (0 if model.causal else 1)  # a bidirectional model spends one position on [mask]
    notes = []
    if len(ids) > limit:
        notes.append(f"the {len(ids) - limit} oldest of {len(ids)} history items were left out: the model reads "
                     f"only the {limit} most recent")
        ids = ids[-limit:]
    kept = list(history)[len(history) - len(ids):]
    target = recommender.index[item]
    score = recommender.score_function(batch_size)

    def value(masks: np.ndarray) -> np.ndarray:
        out = np.empty(len(masks), dtype=np.float64)
        for first in range(0, len(masks), batch_size):
            chunk = masks[first:first + batch_size]
            scores = score([ids[row] for row in chunk])  # (b, V + 1)
            out[first:first + len(chunk)] = scores[:, target].double().numpy()
        if not np.isfinite(out).all():  # -inf marks an item the model may never recommend
            raise InputError(f"the recommender never recommends item {item!r} (it has neither interactions nor "
                             "text), so there is no score to explain; pick an item it recommends.")
        return out

    attribution = shapley_values(value, len(ids), config)
    leave_one_out, _, _ = occlusion(value, len(ids))
    errors = attribution.standard_errors
    features = [Feature("history", name, -1, -1, float(attribution.values[i]),
                        None if errors is None else float(errors[i]), float(leave_one_out[i]))
                for i, name in enumerate(kept)]
    blended = recommender.cooccurrence is not None and recommender.blend_weight > 0
    served = (f"the blended next-item probability (co-occurrence weight {recommender.blend_weight:g})" if blended
              else "the model's score (a logit)")
    notes.append(f"the score is {served}; the empty history is valued at the score after no history, "
                 f"{attribution.empty:.4g}")
    return Explanation("recommend", f"score of item {item!r} for this history", features, attribution.full,
                       attribution.empty, attribution.exact, attribution.permutations, attribution.coalitions,
                       attribution.seconds, {}, notes)

