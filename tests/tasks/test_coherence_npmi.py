"""NPMI coherence, two ways of counting: selfsim's boolean windows and gensim's ``c_npmi``, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfsim.errors import ConfigError
from selfsim.tasks.topics.coherence import CoherenceConfig, c_npmi, npmi_coherence, one_pre_pairs

EPS = 1e-12

# "alpha" repeats inside the first window of document one (window = 3 tokens).
REPEATED = [["alpha", "beta", "alpha", "gamma", "delta"], ["gamma", "alpha"]]


def npmi(p_a: float, p_b: float, p_ab: float) -> float:
    return math.log((p_ab + EPS) / (p_a * p_b)) / -math.log(p_ab + EPS)


def gensim_slide(texts: list[list[str]], window: int) -> list[set[str]]:
    """The window sets gensim's accumulator keeps, step by step (a slow reference)."""
    sets = []
    for text in texts:
        if len(text) <= window:
            sets.append(set(text))
            continue
        current = set(text[:window])
        sets.append(set(current))
        for start in range(1, len(text) - window + 1):
            current.discard(text[start - 1])
            current.add(text[start + window - 1])
            sets.append(set(current))
    return sets


def test_a_word_repeated_inside_a_window_is_counted_differently() -> None:
    # gensim's windows: {alpha, beta}, {beta, gamma} (alpha's first copy left, its second is lost),
    # {gamma, delta}, {gamma, alpha}; so P(alpha) = 2/4, P(gamma) = 3/4, P(alpha, gamma) = 1/4.
    expected = npmi(2 / 4, 3 / 4, 1 / 4)
    assert expected == pytest.approx(math.log(2 / 3) / math.log(4))
    score, per_topic = c_npmi([["alpha", "gamma"]], REPEATED, window=3)
    assert score == pytest.approx(expected, abs=1e-12) and per_topic == [score]
    # The boolean windows {alpha, beta}, {alpha, beta, gamma}, {alpha, gamma, delta}, {gamma, alpha}:
    # alpha is in all four, so the pair is independent and scores (almost exactly) 0.
    texts = [" ".join(tokens) for tokens in REPEATED]
    boolean, _ = npmi_coherence([["alpha", "gamma"]], texts, CoherenceConfig(window=3))
    assert boolean == pytest.approx(npmi(1, 3 / 4, 3 / 4), abs=1e-6) and abs(boolean) < 1e-6  # float32 there
    # The same raw texts through the config: tokenised as selfsim does, then counted as gensim does.
    same, _ = npmi_coherence([["alpha", "gamma"]], texts, CoherenceConfig(window=3, method="c_npmi"))
    assert same == pytest.approx(expected, abs=1e-12)


def test_one_pre_segmentation_pairs_each_word_with_those_before_it() -> None:
    assert one_pre_pairs(["a", "b", "c", "d"]) == [("b", "a"), ("c", "a"), ("c", "b"), ("d", "a"), ("d", "b"),
                                                   ("d", "c")]
    assert one_pre_pairs(["a"]) == [] and one_pre_pairs([]) == []
    # NPMI is symmetric, so the order of a topic's words changes no figure.
    topic = ["alpha", "beta", "gamma", "delta"]
    assert c_npmi([topic], REPEATED, 3)[0] == pytest.approx(c_npmi([topic[::-1]], REPEATED, 3)[0], abs=1e-15)


def test_a_pair_that_never_co_occurs_is_kept_finite_by_epsilon() -> None:
    texts = [["alpha", "beta"], ["gamma", "delta"]]
    score, _ = c_npmi([["alpha", "gamma"]], texts, window=2)
    assert score == pytest.approx((math.log(EPS) - math.log(1 / 4)) / -math.log(EPS), abs=1e-12)
    assert -1 < score < -0.9
    boolean, _ = npmi_coherence([["alpha", "gamma"]], ["alpha beta", "gamma delta"], CoherenceConfig(window=2))
    assert boolean == pytest.approx(score, abs=1e-6)  # both share gensim's epsilon (selfsim counts in float32)


def test_unknown_words_are_dropped_by_c_npmi_and_score_minus_one_in_selfsim() -> None:
    texts = [["alpha", "beta"], ["alpha", "gamma"]]
    assert c_npmi([["alpha", "zeta", "beta"]], texts, 2)[0] == pytest.approx(c_npmi([["alpha", "beta"]], texts, 2)[0])
    # The cut to top_n comes after dropping, as gensim's CoherenceModel does.
    assert c_npmi([["zeta", "alpha", "beta", "gamma"]], texts, 2, top_n=2)[0] == pytest.approx(
        c_npmi([["alpha", "beta"]], texts, 2)[0])
    assert math.isnan(c_npmi([["alpha", "zeta"]], texts, 2)[0])  # fewer than two known words, as gensim
    _, per_topic = npmi_coherence([["alpha", "zeta"]], ["alpha beta", "alpha gamma"], CoherenceConfig(window=2))
    assert per_topic == [-1.0]


def test_c_npmi_matches_a_step_by_step_slide_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    vocabulary = [f"w{n}" for n in range(8)]
    texts = [list(rng.choice(vocabulary, int(rng.integers(0, 30)))) for _ in range(20)]
    topics = [list(rng.choice(vocabulary, 4, replace=False)) for _ in range(3)]
    windows = gensim_slide(texts, 5)
    expected = []
    for topic in topics:
        share = {w: sum(w in s for s in windows) / len(windows) for w in topic}
        values = [npmi(share[a], share[b], sum(a in s and b in s for s in windows) / len(windows))
                  for a, b in one_pre_pairs(topic)]
        expected.append(float(np.mean(values)))
    score, per_topic = c_npmi(topics, texts, window=5)
    assert per_topic == pytest.approx(expected, abs=1e-12) and score == pytest.approx(np.mean(expected))
    assert c_npmi(topics, texts, window=5) == (score, per_topic)


def test_default_counting_is_unchanged_and_bad_settings_are_one_sentence() -> None:
    texts = ["alpha beta alpha gamma delta", "gamma epsilon"]
    assert CoherenceConfig().method == "selfsim"
    assert npmi_coherence([["alpha", "gamma"]], texts) == npmi_coherence(
        [["alpha", "gamma"]], texts, CoherenceConfig(method="selfsim"))
    with pytest.raises(ConfigError, match="unknown coherence method"):
        CoherenceConfig(method="c_v")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="give a window size"):
        CoherenceConfig(method="c_npmi", window=None)
    with pytest.raises(ConfigError, match="at least 1 token"):
        c_npmi([["alpha", "beta"]], [["alpha", "beta"]], window=0)
