"""The learned vector quantiser on tiny planted data: codes, EMA updates, dead codes, the rotation, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.objectives.vector_quantisation import (
    VectorQuantiser,
    VQConfig,
    fit_quantiser,
    perplexity,
    straight_through,
    vq_losses,
)

SMALL = dict(codes=8, epochs=2, rotation_epochs=3, batch_size=128, kmeans_iterations=10)


def clustered(count: int = 400, dim: int = 16, clusters: int = 8, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(0, clusters, count)] + rng.normal(0, 0.15, (count, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("form", ["product", "residual"])
def test_codes_decode_to_their_centroids(form: str) -> None:
    vectors = clustered()
    quantiser, report = fit_quantiser(vectors, VQConfig(form=form, codebooks=4, **SMALL))
    codes = quantiser.encode(vectors)
    assert codes.dtype == np.uint8 and codes.shape == (len(vectors), 4) and codes.max() < 8
    books, rotation = quantiser.codebooks.numpy(), quantiser.rotation.numpy()
    chosen = [books[m, codes[:, m]] for m in range(4)]  # (N, W) each
    rotated = np.concatenate(chosen, axis=1) if form == "product" else np.sum(chosen, axis=0)
    np.testing.assert_allclose(quantiser.decode(codes), rotated @ rotation.T, atol=1e-5)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(16), atol=1e-4)  # still a rotation
    if form == "product":  # a centroid is its own nearest code
        np.testing.assert_array_equal(quantiser.encode(quantiser.decode(codes)), codes)
    errors = quantiser.reconstruction_error(vectors)
    assert errors.shape == (len(vectors),) and report.reconstruction_mse == pytest.approx(errors.mean(), rel=1e-4)
    assert report.bytes_per_vector == 4 and len(report.perplexity) == 4 and 1.0 < report.mean_perplexity <= 8.0


def test_lookup_tables_sum_to_the_inner_product_with_the_decoded_vector() -> None:
    vectors = clustered(seed=1)
    for form in ("product", "residual"):
        quantiser, _ = fit_quantiser(vectors, VQConfig(form=form, codebooks=4, **SMALL))
        codes = quantiser.encode(vectors)
        tables = quantiser.lookup_tables(vectors[:3])  # (3, M, K)
        approximate = sum(tables[:, m, codes[:, m]] for m in range(4))  # (3, N)
        np.testing.assert_allclose(approximate, vectors[:3] @ quantiser.decode(codes).T, atol=1e-5)


def _two_codes(dead_threshold: float = 0.0) -> VectorQuantiser:
    quantiser = VectorQuantiser(2, VQConfig(codebooks=1, codes=2, decay=0.5, dead_threshold=dead_threshold))
    quantiser.codebooks[0] = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    quantiser.cluster_size[0] = torch.tensor([4.0, 4.0])
    quantiser.embed_sum[0] = quantiser.codebooks[0] * 4.0
    return quantiser.train()


def test_ema_updates_move_codes_toward_their_assigned_vectors() -> None:
    quantiser = _two_codes()
    batch = torch.tensor([[1.0, 1.0], [1.2, 0.8], [0.8, 1.2], [1.0, 1.0]])  # all nearest to code 0
    before = quantiser.codebooks[0, 0].clone()
    for _ in range(3):
        output, loss = quantiser(batch)
        assert output.shape == batch.shape and loss.ndim == 0
    moved = quantiser.codebooks[0, 0]
    target = torch.tensor([1.0, 1.0])
    assert (moved - target).norm() < 0.2 * (before - target).norm()  # most of the way after three halvings
    np.testing.assert_allclose(quantiser.codebooks[0, 1].numpy(), [10.0, 10.0], atol=1e-3)  # nothing assigned


def test_dead_codes_get_restarted_on_batch_vectors() -> None:
    quantiser = _two_codes(dead_threshold=1.0)
    batch = torch.tensor([[1.0, 1.0], [1.2, 0.8], [0.8, 1.2], [1.0, 1.0]])
    for _ in range(3):  # code 1 gets nothing: its count halves each step, 4 -> 2 -> 1 -> 0.5 < 1
        quantiser(batch)
    assert quantiser.restarts == 1
    restarted = quantiser.codebooks[0, 1]
    assert any(torch.allclose(restarted, row) for row in batch)
    assert float(quantiser.cluster_size[0, 1]) == 1.0


def test_fitting_uses_the_codes_and_the_restarts_revive_unused_ones() -> None:
    vectors = clustered(count=600, clusters=16, seed=2)
    _, report = fit_quantiser(vectors, VQConfig(codebooks=2, codes=16, epochs=3, batch_size=64, dead_threshold=2.0,
                                                transform="none", kmeans_iterations=5))
    assert report.restarts > 0 and min(report.perplexity) > 8.0  # most of the 16 codes in use


def test_the_learned_rotation_undoes_a_mixing_of_the_sub_spaces() -> None:
    # Each 4-d half holds 4 exact points, so a product quantiser with 4 codes a half is exact, once the
    # random rotation that mixes the halves is undone.
    rng = np.random.default_rng(3)
    halves = [rng.normal(size=(4, 4))[rng.integers(0, 4, 300)] for _ in range(2)]
    mixing = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    vectors = (np.concatenate(halves, axis=1) @ mixing).astype(np.float32)
    settings = dict(codebooks=2, codes=4, epochs=1, batch_size=300, kmeans_iterations=10)
    _, plain = fit_quantiser(vectors, VQConfig(transform="none", **settings))
    _, rotated = fit_quantiser(vectors, VQConfig(transform="procrustes", rotation_epochs=15, **settings))
    assert rotated.reconstruction_mse < 0.5 * plain.reconstruction_mse


def test_the_gradient_rotation_learns_from_the_commitment_loss() -> None:
    vectors = clustered(seed=4)
    settings = dict(SMALL, rotation_epochs=10)
    _, plain = fit_quantiser(vectors, VQConfig(codebooks=4, transform="none", **settings))
    quantiser, learned = fit_quantiser(vectors, VQConfig(codebooks=4, transform="gradient", lr=0.02, **settings))
    rotation = quantiser.rotation.numpy()
    assert not quantiser.rotation.requires_grad  # fixed after training
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(16), atol=1e-4)
    assert not np.allclose(rotation, np.eye(16), atol=1e-2)
    # The commitment loss falls while the rotation turns (its passes come first), and the codes end up better.
    assert learned.losses[9] < learned.losses[0] and learned.reconstruction_mse < plain.reconstruction_mse


def test_the_losses_and_the_straight_through_gradient() -> None:
    inputs = torch.tensor([[1.0, 2.0], [0.0, 1.0]], requires_grad=True)
    codes = torch.tensor([[1.5, 2.0], [0.0, 0.0]], requires_grad=True)
    loss, codebook, commitment = vq_losses(inputs, codes, beta=0.25)
    expected = (0.25 + 1.0) / 4  # mean over the 4 entries of the squared differences
    assert codebook.item() == pytest.approx(expected) and commitment.item() == pytest.approx(expected)
    loss.backward()
    # The codebook term trains the codes, the commitment term (times beta) the inputs.
    np.testing.assert_allclose(codes.grad.numpy(), 2 * (codes - inputs).detach().numpy() / 4)
    np.testing.assert_allclose(inputs.grad.numpy(), 0.25 * 2 * (inputs - codes).detach().numpy() / 4)
    x = torch.tensor([[0.3, -0.2]], requires_grad=True)
    out = straight_through(x, torch.tensor([[1.0, 1.0]]))
    out.sum().backward()
    assert out.tolist() == [[1.0, 1.0]] and x.grad.tolist() == [[1.0, 1.0]]


def test_perplexity_counts_the_codes_in_use() -> None:
    assert perplexity(np.array([[0], [1], [2], [3]]), 4)[0] == pytest.approx(4.0)
    assert perplexity(np.array([[2, 0], [2, 1]]), 4).tolist() == pytest.approx([1.0, 2.0])


def test_save_and_load_give_the_same_codes(tmp_path: Path) -> None:
    vectors = clustered(seed=5)
    quantiser, _ = fit_quantiser(vectors, VQConfig(codebooks=4, **SMALL))
    quantiser.save(tmp_path / "vq")
    assert sorted(p.name for p in (tmp_path / "vq").iterdir()) == ["config.json", "quantiser.safetensors"]
    loaded = VectorQuantiser.load(tmp_path / "vq")
    np.testing.assert_array_equal(loaded.encode(vectors), quantiser.encode(vectors))
    assert loaded.config == quantiser.config
    with pytest.raises(NotFoundError, match="holds no vector quantiser"):
        VectorQuantiser.load(tmp_path / "nothing")


def test_mistakes_end_in_one_clear_sentence() -> None:
    with pytest.raises(ConfigError, match="fits in one byte"):
        VQConfig(codes=300)
    with pytest.raises(ConfigError, match="unknown quantiser form"):
        VQConfig(form="scalar")
    with pytest.raises(ConfigError, match="divides 10"):
        VectorQuantiser(10, VQConfig(codebooks=4))
    with pytest.raises(InputError, match="at least 256 vectors"):
        fit_quantiser(clustered(count=100), VQConfig(codebooks=4, epochs=0, transform="none"))
    quantiser, _ = fit_quantiser(clustered(), VQConfig(codebooks=4, **SMALL))
    with pytest.raises(InputError, match=r"\(items, 16\)"):
        quantiser.encode(np.zeros((3, 5), dtype=np.float32))
