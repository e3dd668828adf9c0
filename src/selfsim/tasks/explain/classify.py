"""Why a classifier predicted a label: Shapley values of a text's sentences or words for the label's probability.

The players are the text's sentences when it has at least three (a short text is
explained word by word), merged into at most ``max_features`` neighbouring
groups. The value of a coalition is the classifier's calibrated probability of
the label for the text made of the present units only (the others removed),
computed exactly as prediction does: the encoder's embedding of that text, then
the probe's ``predict_proba`` with its temperature.

The empty coalition has no text to embed. Its value is the probability the probe
gives the zero vector, ``softmax(intercept / T)``: the head's prior, what it
says with no evidence at all. The embedding of an empty string would be a
point the encoder makes up from special tokens alone, with a direction (and so a
prediction) of its own that says nothing about the text; the zero vector is the
same distance from every text on the unit sphere. Either way the values add up
to ``p(full text) - p(empty)`` exactly, as the empty coalition is scored by the
same value function the Shapley computation sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfsim.encoders.base import Encoder
from selfsim.errors import InputError, NotFoundError
from selfsim.tasks.classify.probe import LinearProbe
from selfsim.tasks.explain.explanation import Explanation, Feature
from selfsim.tasks.explain.match import EmbeddingCache
from selfsim.tasks.explain.shapley import ShapleyConfig, occlusion, shapley_values
from selfsim.tasks.explain.units import compose, group, sentences, words

# A text of fewer sentences than this is explained by its words: two sentences make a game too coarse to say much.
MIN_SENTENCES = 3


@dataclass(frozen=True)
class ClassifyExplainConfig:
    """The feature cap (neighbouring units are merged beyond it) and the Shapley settings.

    With the defaults a text of up to 10 units is explained exactly; 11 or 12 are sampled.
    """

    max_features: int = 12
    shapley: ShapleyConfig = ShapleyConfig()
    batch_size: int = 64


def explain_prediction(encoder: Encoder | EmbeddingCache, probe: LinearProbe, text: str, label: str | None = None,
                       config: ClassifyExplainConfig = ClassifyExplainConfig()) -> Explanation:
    """How each sentence (or word) of ``text`` moved ``probe``'s probability of ``label``.

    ``label`` defaults to the label predicted for the whole text. ``encoder`` must be the one the
    probe was trained on (a fine-tuned classifier's own encoder when it has one). The empty
    coalition is valued at the probe's probability for the zero vector (its prior; see the module
    docstring), so the values add up to ``p(label | text) - p(label | nothing)``.
    """
    if not text.strip():
        raise InputError("the text to explain is empty; give the text whose prediction you want explained.")
    embed = encoder if isinstance(encoder, EmbeddingCache) else EmbeddingCache(encoder, config.batch_size)
    classes = [str(c) for c in probe.classes_]
    if label is None:
        full = probe.predict_proba(embed([text]))[0]
        column = int(np.argmax(full))
    elif str(label) in classes:
        column = classes.index(str(label))
    else:
        raise NotFoundError(f"the classifier has no label {str(label)!r}; its labels are "
                            f"{', '.join(repr(c) for c in classes)}.")
    by_sentence = sentences(text)
    units, kind, merged_into = ((by_sentence, "sentences", "passages") if len(by_sentence) >= MIN_SENTENCES
                                else (words(text), "words", "phrases"))
    players = group(units, text, config.max_features)
    zero = probe.predict_proba(np.zeros((1, embed.encoder.dim), dtype=np.float32))[0, column]

    def value(masks: np.ndarray) -> np.ndarray:
        scores = np.full(len(masks), float(zero))
        present = np.flatnonzero(masks.any(axis=1))
        if len(present):
            # every unit present is the text itself, so the full value is exactly what prediction says
            vectors = embed([text if masks[row].all() else compose(players, masks[row]) for row in present])
            scores[present] = probe.predict_proba(vectors)[:, column]
        return scores

    attribution = shapley_values(value, len(players), config.shapley)
    leave_one_out, _, _ = occlusion(value, len(players))
    errors = attribution.standard_errors
    features = [Feature("text", unit.text, unit.start, unit.end, float(attribution.values[i]),
                        None if errors is None else float(errors[i]), float(leave_one_out[i]))
                for i, unit in enumerate(players)]
    notes = [f"explained by {kind}; the empty text is valued at the classifier's prior "
             f"(its probability for the zero vector), {float(zero):.4f}"]
    if len(players) < len(units):
        notes.append(f"{len(units)} {kind} were merged into {len(players)} {merged_into} to keep the cost down")
    return Explanation("classify", f"probability of {classes[column]!r}", features, attribution.full,
                       attribution.empty, attribution.exact, attribution.permutations, attribution.coalitions,
                       attribution.seconds, {"text": text}, notes)
