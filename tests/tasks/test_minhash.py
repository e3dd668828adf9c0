"""MinHash signatures estimate Jaccard, and LSH finds near-copies without all pairs."""

from __future__ import annotations

import numpy as np
import pytest

from selfsim.data.shingles import jaccard, normalise_text, shingles, text_fingerprint
from selfsim.errors import ConfigError
from selfsim.tasks.duplicates.minhash import MinHashConfig, MinHasher, lsh_bands


def test_normalisation_and_fingerprints() -> None:
    assert normalise_text("  Ｈello,\tWORLD!! ") == "hello world"
    assert text_fingerprint("Hello, world") == text_fingerprint("hello WORLD.")
    assert text_fingerprint("hello world") != text_fingerprint("hello word")
    assert shingles("a b c d", 3) == {"a b c", "b c d"} and shingles("a b", 3) == {"a b"}


def test_signature_agreement_estimates_jaccard() -> None:
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(400)]
    base = list(rng.choice(vocabulary, 200))
    edited = base[:150] + list(rng.choice(vocabulary, 50))
    hasher = MinHasher(MinHashConfig(num_perm=256, shingle_size=2))
    first, second = hasher.signatures([" ".join(base), " ".join(edited)])
    estimate = float((first == second).mean())
    truth = jaccard(shingles(" ".join(base), 2), shingles(" ".join(edited), 2))
    assert estimate == pytest.approx(truth, abs=0.08)


def test_lsh_finds_planted_near_copies_only() -> None:
    rng = np.random.default_rng(1)
    vocabulary = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choice(vocabulary, 60)) for _ in range(200)]
    for copy, source in enumerate(range(10)):
        words = texts[source].split()
        words[copy % 60] = "changed"
        texts.append(" ".join(words))
    hasher = MinHasher(MinHashConfig(threshold=0.8)).fit(texts)
    found = {tuple(p) for p in hasher.pairs_.tolist()}
    assert found == {(source, 200 + source) for source in range(10)}


def test_bands_rise_with_the_threshold_and_bad_settings_fail() -> None:
    assert lsh_bands(128, 0.5)[1] < lsh_bands(128, 0.9)[1]
    with pytest.raises(ConfigError):
        MinHashConfig(threshold=0.0)
