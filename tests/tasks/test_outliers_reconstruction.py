"""The reconstruction signal of the outlier detector: a learned quantiser's held-out error finds planted outliers."""

from __future__ import annotations

import numpy as np
import pytest

from selfsim.errors import ConfigError
from selfsim.objectives.vector_quantisation import VQConfig, held_out_errors
from selfsim.tasks.outliers.detector import RECONSTRUCTION, OutlierDetector, OutliersConfig

ISOLATED = ("lonely-0", "lonely-1", "lonely-2", "lonely-3")


def planted(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Four clusters of 60 unit vectors in 32 dimensions, and four isolated ones in random directions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32))
    points = np.vstack([np.vstack([c + rng.normal(0, 0.25, (60, 32)) for c in centres]), rng.normal(size=(4, 32))])
    ids = [f"c{i // 60}-{i % 60}" for i in range(240)] + list(ISOLATED)
    return ids, (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_the_planted_outliers_have_the_largest_errors_with_their_reasons() -> None:
    ids, vectors = planted()
    detector = OutlierDetector(OutliersConfig(signal=RECONSTRUCTION)).fit(ids, vectors)
    assert {o.id for o in detector.outliers_[:4]} == set(ISOLATED)
    scores = [o.score for o in detector.outliers_]
    assert scores == sorted(scores, reverse=True) and scores[-1] > detector.error_threshold_
    # A cluster's edge may pass Tukey's fence too, but its error is far below the planted points'.
    assert all(score < scores[3] / 3 for score in scores[4:])
    first = detector.outliers_[0]
    assert first.signal == RECONSTRUCTION and first.score == pytest.approx(detector.scores_[ids.index(first.id)])
    assert first.reason.startswith("a vector quantiser fitted on the other items rebuilds it with squared error")
    assert f"its nearest is {first.nearest_id}" in first.reason and first.reason.endswith(".")
    summary = detector.summary()
    assert summary["signal"] == RECONSTRUCTION and summary["error_threshold"] > summary["median_error"] > 0


def test_the_neighbours_signal_stays_the_default() -> None:
    ids, vectors = planted(seed=1)
    detector = OutlierDetector(OutliersConfig(k=5)).fit(ids, vectors)
    assert detector.error_threshold_ is None and detector.summary()["signal"] == "neighbours"
    assert all(o.signal == "neighbours" for o in detector.outliers_)


def test_held_out_errors_see_what_a_fitted_quantiser_would_memorise() -> None:
    ids, vectors = planted(seed=2)
    config = VQConfig(form="residual", codebooks=2, codes=8, transform="none", epochs=1, kmeans_iterations=10)
    held_out = held_out_errors(vectors, config)
    lonely = held_out[-4:]
    assert held_out.shape == (len(ids),) and lonely.min() > 3 * np.median(held_out[:-4])
    with pytest.raises(ConfigError, match="unknown outlier signal"):
        OutliersConfig(signal="loudness")
