"""The outlier detector on planted data: tight clusters plus a few isolated points."""

from __future__ import annotations

import numpy as np
import pytest

from selfsim.errors import ConfigError, InputError
from selfsim.tasks.outliers.detector import NEIGHBOURS, OutlierDetector, OutliersConfig, nearest_others

ISOLATED = ("lonely-0", "lonely-1", "lonely-2", "lonely-3")


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def planted(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Three tight clusters of 30 points in 32 dimensions, and four isolated points in random directions."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(3, 32)))
    clusters = np.vstack([centre + rng.normal(0, 0.1, (30, 32)) for centre in centres])
    ids = [f"c{i // 30}-{i % 30}" for i in range(90)] + list(ISOLATED)
    return ids, _unit(np.vstack([clusters, rng.normal(size=(4, 32))]))


def test_the_planted_outliers_come_first_with_their_reasons() -> None:
    ids, vectors = planted()
    detector = OutlierDetector(OutliersConfig(k=5)).fit(ids, vectors)
    assert {o.id for o in detector.outliers_[:4]} == set(ISOLATED) and detector.radius_chosen_
    scores = [o.score for o in detector.outliers_]
    assert scores == sorted(scores, reverse=True)
    # A cluster's edge may be flagged too (a Gaussian blob has one), but far less lonely than the planted points.
    assert all(score < scores[3] / 2 for score in scores[4:])
    first = detector.outliers_[0]
    assert first.signal == NEIGHBOURS and first.neighbours_within == 0
    assert first.nearest_id is not None and first.nearest_similarity is not None
    assert first.reason.startswith(f"0 of its 5 nearest items lie within cosine {detector.radius_:.2f}")
    assert f"its nearest is {first.nearest_id}" in first.reason and first.reason.endswith(".")
    assert detector.typical_within_ == 5  # every clustered point has all its neighbours within the radius
    assert set(first.to_dict()) == {"id", "score", "neighbours_within", "nearest_id", "nearest_similarity",
                                    "reason", "signal"}


def test_the_radius_comes_from_the_data_unless_given() -> None:
    ids, vectors = planted()
    detector = OutlierDetector(OutliersConfig(k=5, percentile=10)).fit(ids, vectors)
    kth = np.sort(detector.similarities_[:, -1])
    assert detector.radius_ == pytest.approx(np.percentile(kth, 10))
    assert kth[4] <= detector.radius_ <= kth[-1]  # above the planted points, inside the clusters' range
    summary = detector.summary()
    assert summary["radius_chosen"] and summary["percentile"] == 10 and len(summary["outliers"]) == detector.flagged_
    given = OutlierDetector(OutliersConfig(k=5, radius=0.99)).fit(ids, vectors)
    assert given.radius_ == 0.99 and not given.radius_chosen_ and given.summary()["percentile"] is None
    assert given.flagged_ == len(ids)  # a radius nothing reaches makes every item lonely
    capped = OutlierDetector(OutliersConfig(k=5, radius=0.99, top=3)).fit(ids, vectors)
    assert len(capped.outliers_) == 3 and capped.flagged_ == given.flagged_


def test_itself_is_never_its_own_neighbour_even_beside_an_exact_copy() -> None:
    vectors = _unit(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    similarities, rows = nearest_others(vectors, 2)
    assert all(row not in found for row, found in enumerate(rows.tolist()))
    assert rows[0, 0] == 1 and rows[1, 0] == 0 and similarities[0, 0] == pytest.approx(1.0)


def test_runs_agree_and_a_small_set_shrinks_k() -> None:
    ids, vectors = planted(seed=3)
    first = OutlierDetector(OutliersConfig()).fit(ids, vectors)
    second = OutlierDetector(OutliersConfig()).fit(ids, vectors)
    assert [o.to_dict() for o in first.outliers_] == [o.to_dict() for o in second.outliers_]
    small = OutlierDetector(OutliersConfig(k=10, min_neighbours=2)).fit(ids[:4], vectors[:4])
    assert small.k_ == 3 and small.similarities_.shape == (4, 3)


@pytest.mark.parametrize("options, words", [
    ({"k": 0}, "k must be at least 1"),
    ({"radius": 1.5}, "between -1 and 1"),
    ({"min_neighbours": 0}, "min_neighbours must be between 1 and k"),
    ({"k": 3, "min_neighbours": 4}, "min_neighbours must be between 1 and k"),
    ({"top": 0}, "top must be at least 1"),
    ({"percentile": 100}, "between 0 and 100"),
])
def test_config_mistakes_end_in_one_sentence(options: dict[str, float], words: str) -> None:
    with pytest.raises(ConfigError, match=words) as error:
        OutliersConfig(**options)  # type: ignore[arg-type]
    assert str(error.value).endswith(".")


def test_too_few_items_or_mismatched_vectors_are_input_errors() -> None:
    ids, vectors = planted()
    with pytest.raises(InputError, match="needs more than 3 items"):
        OutlierDetector().fit(ids[:3], vectors[:3])
    with pytest.raises(InputError, match="one vector per id"):
        OutlierDetector().fit(ids[:5], vectors[:4])
