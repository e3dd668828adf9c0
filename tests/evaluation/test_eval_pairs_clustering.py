"""Pair and clustering evaluation helpers: reading files, cross-fitting, label scores."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from selfsim.errors import InputError, NotFoundError
from selfsim.evaluation.clustering import label_scores, read_labelled_texts
from selfsim.evaluation.pairs import cross_fit, read_pairs
from selfsim.tasks.duplicates.pairs import FEATURES


def test_read_pairs_handles_header_and_csv_quoting(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text('label\tsentence1\tsentence2\n1\t"He said "" hi "" ."\tHe greeted us .\n0\ta\tb\n')
    pairs = read_pairs(path)
    assert pairs.labels.tolist() == [1, 0] and pairs.first[0] == 'He said " hi " .'
    path.write_text("1\tonly two\n")
    with pytest.raises(InputError, match="line 1"):
        read_pairs(path)
    path.write_text("1\ta\tb\nyes\tc\td\n")
    with pytest.raises(InputError, match="use 0 or 1"):
        read_pairs(path)
    with pytest.raises(NotFoundError):
        read_pairs(tmp_path / "missing.tsv")


def test_cross_fit_scores_every_pair_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.5).astype(int)
    features = rng.uniform(size=(300, len(FEATURES)))
    features[:, 0] = 0.3 * labels + 0.7 * rng.random(300)  # a weak cosine
    features[:, 1] = 0.8 * labels + 0.2 * rng.random(300)  # a strong lexical signal
    result = cross_fit(features, labels, folds=2, seed=0)
    assert result["scores"].shape == (300,)
    assert result["fused"]["average_precision"] > result["cosine"]["average_precision"]
    assert result["fused"]["f1_at_train_threshold"] <= result["fused"]["best_f1"] + 1e-9


def test_read_labelled_texts_and_label_scores(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        for n in range(6):
            handle.write(json.dumps({"id": n, "body": f"text {n}", "topic": n % 2}) + "\n")
    data = read_labelled_texts(path, text_field="body", label_field="topic", limit=4)
    assert len(data) == 4 and data.labels == ["0", "1", "0", "1"] and data.ids[0] == "0"
    perfect = label_scores(["a", "a", "b", "b"], np.array([1, 1, 0, 0]))
    assert perfect["v_measure"] == pytest.approx(1.0) and perfect["ari"] == pytest.approx(1.0)
