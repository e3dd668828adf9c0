"""Pairs from labels: two texts of the same class are a positive pair, of different classes a negative one.

SetFit (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts")
fine-tunes a sentence encoder on such pairs before fitting a head: a handful
of labels yields many pairs (n labels give n(n-1)/2), which is what makes a
contrastive fine-tune possible from 8 examples per class. Rather than listing
pairs and encoding both sides of each, selfsim draws class-balanced batches
of texts and uses every pair inside a batch: one forward pass of ``B`` texts
gives ``B(B-1)/2`` pairs, so a CPU can afford the fine-tune.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def balanced_batches(labels: Sequence[Any], batch_size: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    """``steps`` batches of text indices, each drawing (as far as it can) the same number of texts from
    every class, at least two per class so every class has positive pairs.

    With ``batch_size`` at least the number of labelled texts, every batch is
    all of them. Otherwise classes are cycled through in shuffled order, so
    every text is seen about equally often.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if batch_size >= len(labels):
        return [np.arange(len(labels)) for _ in range(steps)]
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    per_class = max(2, batch_size // len(members))
    queues: list[list[int]] = [[] for _ in members]
    batches = []
    for _ in range(steps):
        batch: list[int] = []
        for c, group in enumerate(members):
            take = min(per_class, len(group))
            while len(queues[c]) < take:
                queues[c].extend(rng.permutation(group).tolist())
            batch.extend(queues[c][:take])
            del queues[c][:take]
        batches.append(np.asarray(batch))
    return batches

