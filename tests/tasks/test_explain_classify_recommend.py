"""Shapley explanations of a prediction (sentences or words of a text) and a recommendation (history items)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import selfsim
from selfsim.data.interactions import InteractionLog
from selfsim.encoders.base import Encoder
from selfsim.errors import InputError, NotFoundError
from selfsim.tasks.classify.probe import LinearProbe, ProbeConfig
from selfsim.tasks.explain.classify import ClassifyExplainConfig, explain_prediction
from selfsim.tasks.explain.match import EmbeddingCache
from selfsim.tasks.explain.recommend import explain_recommendation
from selfsim.tasks.explain.shapley import ShapleyConfig
from selfsim.tasks.recommend.baselines import CooccurrenceRecommender
from selfsim.tasks.recommend.collection import RecommendConfig, Recommender
from selfsim.training.sequence import SequenceTrainingConfig

POSITIVE = ["I love it, wonderful.", "Excellent and delightful.", "What a great, happy day.", "Superb, I adore it.",
            "Fantastic, truly lovely.", "Brilliant work, very pleased.", "A wonderful, joyful surprise.",
            "Perfect, I am thrilled."]
NEGATIVE = ["I hate it, awful.", "Terrible and disgusting.", "What a horrible, sad day.", "Dreadful, I loathe it.",
            "Awful, truly miserable.", "Pathetic work, very angry.", "A terrible, painful shock.",
            "Horrible, I am furious."]
TINY = RecommendConfig(max_length=10, dim=16, heads=2, blocks=1, dropout=0.1, use_text=False, blend=None,
                       training=SequenceTrainingConfig(epochs=12, batch_size=32, eval_every=3, threads=None))


@pytest.fixture(scope="module")
def sentiment(encoder: Encoder) -> tuple[EmbeddingCache, LinearProbe]:
    """A probe telling praise from complaint, fitted on sixteen short texts."""
    embed = EmbeddingCache(encoder)
    probe = LinearProbe(ProbeConfig(c=10.0)).fit(embed(POSITIVE + NEGATIVE), ["pos"] * 8 + ["neg"] * 8)
    return embed, probe


def planted_log(users: int = 120, chains: int = 3, chain_length: int = 8, seed: int = 0) -> InteractionLog:
    """Every user walks along one of a few fixed cycles of items (c{chain}i{k} is followed by c{chain}i{k+1})."""
    rng = np.random.default_rng(seed)
    sequences = {}
    for user in range(users):
        chain, start, length = int(rng.integers(chains)), int(rng.integers(chain_length)), int(rng.integers(5, 9))
        sequences[f"u{user}"] = [f"c{chain}i{(start + step) % chain_length}" for step in range(length)]
    return InteractionLog.from_sequences(sequences)


@pytest.fixture(scope="module")
def planted() -> Recommender:
    """A tiny recommender trained on the planted cycles."""
    recommender, _ = Recommender.fit(planted_log(), TINY)
    return recommender


# -- classification -----------------------------------------------------------------------------------------


def test_the_deciding_word_gets_the_largest_value_and_values_add_up(sentiment: tuple) -> None:
    embed, probe = sentiment
    text = "the parcel arrived on monday, wonderful"
    explanation = explain_prediction(embed, probe, text)
    assert explanation.target == "probability of 'pos'" and explanation.exact
    assert len(explanation.features) == 6 and abs(explanation.efficiency_gap) < 1e-6
    assert explanation.full == pytest.approx(probe.predict_proba(embed([text]))[0, 1], abs=1e-6)
    # the empty text is valued at the head's prior: its probability for the zero vector
    assert explanation.empty == pytest.approx(probe.predict_proba(np.zeros((1, embed.encoder.dim)))[0, 1])
    top = explanation.ranked()[0]
    assert top.text == "wonderful" and text[top.start:top.end] == "wonderful" and top.side == "text"
    against = explain_prediction(embed, probe, text, label="neg")
    assert against.target == "probability of 'neg'" and against.ranked()[-1].text == "wonderful"


def test_a_long_text_is_explained_by_sentences_sampled_with_standard_errors(sentiment: tuple) -> None:
    embed, probe = sentiment
    filler = [f"Box {n}." for n in range(11)]  # short sentences keep the ~50 coalition texts cheap to encode
    text = " ".join(filler[:6] + ["It was horrible and I hate it."] + filler[6:])
    explanation = explain_prediction(embed, probe, text, config=ClassifyExplainConfig(
        shapley=ShapleyConfig(permutations=4, budget_seconds=None)))
    assert explanation.target == "probability of 'neg'"
    assert len(explanation.features) == 12 and not explanation.exact and explanation.permutations == 4
    assert all(f.standard_error is not None and f.standard_error >= 0 for f in explanation.features)
    assert abs(explanation.efficiency_gap) < 1e-6
    top = explanation.ranked()[0]
    assert top.text == "It was horrible and I hate it." and text[top.start:top.end] == top.text
    merged = explain_prediction(embed, probe, text, config=ClassifyExplainConfig(max_features=4))
    assert len(merged.features) == 4 and merged.exact and any("merged into 4" in n for n in merged.notes)
    assert "horrible" in merged.ranked()[0].text


def test_classify_user_errors_are_one_sentence(sentiment: tuple) -> None:
    embed, probe = sentiment
    with pytest.raises(NotFoundError, match=r"no label 'maybe'; its labels are 'neg', 'pos'\.$"):
        explain_prediction(embed, probe, "fine", label="maybe")
    with pytest.raises(InputError, match="empty"):
        explain_prediction(embed, probe, "   ")


# -- recommendation -----------------------------------------------------------------------------------------


def test_the_planted_predecessor_drives_the_recommendation(planted: Recommender) -> None:
    history = ["c1i1", "c2i5", "c1i6", "c0i3"]
    assert planted.recommend(history, k=1)[0].item == "c0i4"  # the cycle of the last item continues
    explanation = explain_recommendation(planted, history, "c0i4")
    assert explanation.exact and explanation.target == "score of item 'c0i4' for this history"
    assert [f.text for f in explanation.features] == history and all(f.start == -1 for f in explanation.features)
    assert abs(explanation.efficiency_gap) < 1e-6
    served = {r.item: r.score for r in planted.recommend(history, k=100, exclude_seen=False)}
    assert explanation.full == pytest.approx(served["c0i4"], abs=1e-5)  # the score the user was shown
    values = {f.text: f.value for f in explanation.features}
    assert explanation.ranked()[0].text == "c0i3" and values["c0i3"] > values["c1i1"] + 0.2


def test_long_histories_are_capped_and_sampled_with_standard_errors(planted: Recommender) -> None:
    history = ["c1i0", "c1i1", "c1i2", "c2i0", "c2i1", "c2i2", "c1i3", "c2i3", "c1i4", "c2i4", "c1i5", "c0i6"]
    capped = explain_recommendation(planted, history, "c0i7")
    assert len(capped.features) == 10 and capped.exact and [f.text for f in capped.features] == history[2:]
    assert any("2 oldest of 12" in note for note in capped.notes) and abs(capped.efficiency_gap) < 1e-6
    sampled = explain_recommendation(planted, history, "c0i7", ShapleyConfig(exact_up_to=4, permutations=32,
                                                                             budget_seconds=None))
    assert not sampled.exact and sampled.permutations == 32 and abs(sampled.efficiency_gap) < 1e-6
    assert all(f.standard_error is not None for f in sampled.features)
    assert sampled.ranked()[0].text == "c0i6"
    exact_values = np.array([f.value for f in capped.features])
    estimates = np.array([f.value for f in sampled.features])
    errors = np.array([f.standard_error for f in sampled.features])
    assert np.all(np.abs(estimates - exact_values) <= 4 * errors + 1e-3)  # within the stated error


def test_a_blended_recommender_is_explained_on_its_served_probabilities(planted: Recommender) -> None:
    log = planted_log()
    blended = Recommender(planted.model, planted.items,
                          cooccurrence=CooccurrenceRecommender(log.n_items).fit(log.sequences), blend_weight=0.4)
    history = ["c2i1", "c1i4", "c2i2"]
    explanation = explain_recommendation(blended, history, "c2i3")
    served = {r.item: r.score for r in blended.recommend(history, k=100, exclude_seen=False)}
    assert explanation.full == pytest.approx(served["c2i3"], abs=1e-6) and 0 < explanation.empty < 1
    assert abs(explanation.efficiency_gap) < 1e-6 and explanation.ranked()[0].text == "c2i2"
    assert any("blended next-item probability" in note for note in explanation.notes)


def test_recommend_user_errors_are_one_sentence(planted: Recommender) -> None:
    with pytest.raises(NotFoundError, match=r"does not know the item id 'zz9'; .*\.$"):
        explain_recommendation(planted, ["c0i1"], "zz9")
    with pytest.raises(NotFoundError, match="does not know the item ids 'zz8'"):
        explain_recommendation(planted, ["c0i1", "zz8"], "c0i2")


# -- purity -------------------------------------------------------------------------------------------------


def _module_imports(module: str) -> set[str]:
    """The selfsim modules ``module`` imports when it is imported (``if TYPE_CHECKING:`` blocks and imports inside
    functions excluded)."""
    root = Path(selfsim.__file__).parent.parent
    path = root / (module.replace(".", "/") + ".py")
    if not path.is_file():
        path = root / module.replace(".", "/") / "__init__.py"
    found: set[str] = set()
    nodes = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            nodes += node.body + node.orelse
        elif isinstance(node, ast.Try):
            nodes += node.body
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("selfsim.") and (
        (root / (name.replace(".", "/") + ".py")).is_file() or (root / name.replace(".", "/")).is_dir())}


@pytest.mark.parametrize("module", ["selfsim.tasks.explain.classify", "selfsim.tasks.explain.recommend"])
def test_the_explainers_never_import_the_store(module: str) -> None:
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            parts = name.split(".")
            todo += [*_module_imports(name), *(".".join(parts[:i]) for i in range(2, len(parts)))]
    assert not {name for name in seen if name.startswith(("selfsim.store", "selfsim.app"))}
