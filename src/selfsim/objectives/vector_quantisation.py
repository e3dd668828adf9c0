"""Learned vector quantisation: a stored embedding becomes a few bytes of code ids (the VQ-VAE idea).

Inputs: a collection's vectors, (N, D). A :class:`VectorQuantiser` first turns each vector with an orthogonal
``rotation`` (learned, or the identity), then replaces it by codewords from ``codebooks`` codebooks of
``codes`` entries each (256 codes: one byte per codebook), in one of two forms:

- ``product``: the rotated vector is cut into ``codebooks`` sub-vectors, each replaced by its nearest code
  of its own codebook (product quantisation; with the rotation, as in OPQ);
- ``residual``: every codebook spans the whole space, and stage ``m`` quantises what stages ``0..m-1`` left
  over (residual VQ, as in SoundStream's audio codec).

Training follows VQ-VAE: nearest-code assignment, the codebook and commitment losses
(:func:`vq_losses`, β = 0.25), a straight-through gradient; the codebooks move by exponential moving averages
of the vectors assigned to them (cluster sizes and sums, Laplace-smoothed) rather than by gradient, and a
code that stops being used is restarted on a random vector of the batch. The codebooks start from k-means
on a sample. The rotation is learned either in closed form (``procrustes``: the orthogonal map that best
carries the vectors onto their codes, the OPQ step) or by gradient of the commitment loss (``gradient``).
Papers: van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning" (VQ-VAE);
Razavi, van den Oord & Vinyals 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2" (EMA updates);
Zeghidour et al. 2021, "SoundStream" (residual VQ, dead-code restarts); Ge et al. 2013, "Optimized Product
Quantization" (the rotation). Relatives: FAISS ``PQ``, ``OPQ``, ``RQ``.

Searching the codes (a lookup table per query over each codebook, summed) is the store's job:
:mod:`selfsim.store.quantised`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.version import __version__

FORMS = ("product", "residual")
TRANSFORMS = ("none", "procrustes", "gradient")
CONFIG_FILE = "config.json"
DISTANCE_FLOATS = 4_000_000  # distances computed at a time when assigning codes (16 MB)
WEIGHTS_FILE = "quantiser.safetensors"


def vq_losses(inputs: torch.Tensor, quantised: torch.Tensor, beta: float = 0.25
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The VQ-VAE losses between ``inputs`` (B, D) and their nearest codes ``quantised`` (B, D).

    Returns ``(loss, codebook_loss, commitment_loss)``: the codebook loss ``|| sg[z] - e ||²`` pulls the codes
    toward the inputs, the commitment loss ``|| z - sg[e] ||²`` keeps the inputs (the encoder's output, here
    the rotated vector) near their codes, and ``loss = codebook + beta * commitment``. With EMA codebook
    updates the codebook term carries no gradient (the codes are not parameters) and only reports. Paper:
    van den Oord et al. 2017, "Neural Discrete Representation Learning", eq. 3.
    """
    codebook = F.mse_loss(quantised, inputs.detach())
    commitment = F.mse_loss(inputs, quantised.detach())
    return codebook + beta * commitment, codebook, commitment


def straight_through(inputs: torch.Tensor, quantised: torch.Tensor) -> torch.Tensor:
    """``quantised`` in the forward pass, the identity's gradient to ``inputs`` in the backward pass."""
    return inputs + (quantised - inputs).detach()


def perplexity(codes: np.ndarray, size: int) -> np.ndarray:
    """Per codebook, ``exp(entropy)`` of how often each of its ``size`` codes is used in ``codes`` (N, M):
    ``size`` when every code is used equally, 1 when one code takes all."""
    codes = np.asarray(codes)
    result = np.empty(codes.shape[1], dtype=np.float64)
    for m in range(codes.shape[1]):
        share = np.bincount(codes[:, m], minlength=size) / max(len(codes), 1)
        share = share[share > 0]
        result[m] = math.exp(-float((share * np.log(share)).sum()))
    return result


@dataclass(frozen=True)
class VQConfig:
    """A learned quantiser: its form and size, and how it is trained.

    ``codebooks`` (M) codebooks of ``codes`` (K) entries: with K = 256 each vector costs M bytes. ``form`` is
    ``"product"`` (D split into M sub-vectors; D must divide by M) or ``"residual"``. ``transform`` is the
    rotation before quantising: ``"none"``, ``"procrustes"`` (``rotation_epochs`` rounds of OPQ's
    alternation on the k-means sample) or ``"gradient"`` (``rotation_epochs`` passes down the commitment
    loss' gradient, ``lr`` radians a step). A rotation changes only the product form: residual codebooks span
    the whole space, so they turn with it. Then codebooks start from k-means in the rotated frame (``kmeans_iterations``
    on at most ``kmeans_sample`` vectors), and move by EMA (``decay``, Laplace ``epsilon``) over ``epochs``
    passes of ``batch_size`` vectors (at most ``epoch_sample`` vectors a pass); a code whose moving count of
    assigned vectors per batch falls below ``dead_threshold`` is restarted on a random batch vector.
    """

    form: str = "product"
    codebooks: int = 48
    codes: int = 256
    transform: str = "procrustes"
    beta: float = 0.25
    decay: float = 0.9
    epsilon: float = 1e-5
    dead_threshold: float = 1.0
    epochs: int = 8
    rotation_epochs: int = 10
    batch_size: int = 2048
    epoch_sample: int | None = 200_000
    lr: float = 0.01
    kmeans_iterations: int = 20
    kmeans_sample: int = 65_536
    seed: int = 0

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ConfigError(f"unknown quantiser form {self.form!r}; use one of {', '.join(FORMS)}.")
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"unknown transform {self.transform!r}; use one of {', '.join(TRANSFORMS)}.")
        if not 2 <= self.codes <= 256:
            raise ConfigError(f"codes must be between 2 and 256 so a code id fits in one byte, not {self.codes}.")
        if self.codebooks < 1:
            raise ConfigError(f"codebooks must be at least 1, not {self.codebooks}; try 48 (48 bytes a vector).")
        if not 0.0 <= self.decay < 1.0:
            raise ConfigError(f"decay must lie in [0, 1), not {self.decay}; try 0.9.")
        if self.beta < 0 or self.epsilon <= 0 or self.dead_threshold < 0:
            raise ConfigError("beta and dead_threshold cannot be negative and epsilon must be positive; "
                              "try the defaults (0.25, 1.0, 1e-5).")
        if min(self.epochs, self.rotation_epochs) < 0 or min(self.batch_size, self.kmeans_iterations,
                                                              self.kmeans_sample) < 1:
            raise ConfigError("epochs and rotation_epochs cannot be negative, and batch_size, kmeans_iterations "
                              "and kmeans_sample must be at least 1; try the defaults.")
        if self.epoch_sample is not None and self.epoch_sample < 1:
            raise ConfigError("epoch_sample must be at least 1, or none for every vector each epoch.")

    @property
    def bytes_per_vector(self) -> int:
        """Bytes of code ids per vector: one per codebook (codes always fit in a byte)."""
        return self.codebooks


class VectorQuantiser(nn.Module):
    """A rotation, then ``codebooks`` codebooks of ``codes`` codes: (N, D) float vectors <-> (N, M) uint8 codes.

    >>> quantiser, report = fit_quantiser(vectors, VQConfig(codebooks=48))     # doctest: +SKIP
    >>> codes = quantiser.encode(vectors)        # (N, 48) uint8
    >>> approximations = quantiser.decode(codes) # (N, D) float32

    ``forward(x)`` returns ``(x̂, loss)`` with a straight-through gradient; in training mode it also moves the
    codebooks by EMA and restarts dead codes (counted in ``restarts``).
    """

    def __init__(self, dim: int, config: VQConfig = VQConfig()) -> None:
        super().__init__()
        M, K = config.codebooks, config.codes
        if config.form == "product" and dim % M:
            raise ConfigError(f"the product form splits the {dim} dimensions into {M} equal parts, which "
                              f"{dim} does not allow; choose a number of codebooks that divides {dim}.")
        self.config = config
        self.dim = dim
        self.width = dim // M if config.form == "product" else dim  # each codebook's code length
        self.register_buffer("rotation", torch.eye(dim))  # (D, D), orthogonal
        self.register_buffer("codebooks", torch.zeros(M, K, self.width))  # (M, K, W)
        self.register_buffer("cluster_size", torch.zeros(M, K))  # EMA count of vectors per code, per batch
        self.register_buffer("embed_sum", torch.zeros(M, K, self.width))  # EMA sum of those vectors
        self.restarts = 0
        self.generator = torch.Generator().manual_seed(config.seed)

    # -- the map ---------------------------------------------------------------------------------

    def assign(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Nearest codes of rotated vectors ``z`` (B, D): ``(quantised (B, D), codes (B, M) int64,
        stage inputs (M, B, W))`` — what each codebook quantised (a sub-vector, or a residual)."""
        B, M = z.shape[0], self.config.codebooks
        if self.config.form == "product":
            parts = z.reshape(B, M, self.width).transpose(0, 1).contiguous()  # (M, B, W)
            codes = _nearest(parts, self.codebooks)  # (M, B)
            quantised = torch.gather(self.codebooks, 1, codes.unsqueeze(-1).expand(-1, -1, self.width))  # (M,B,W)
            return quantised.transpose(0, 1).reshape(B, self.dim), codes.T, parts
        residual, total = z, torch.zeros_like(z)
        inputs, codes = [], []
        for m in range(M):  # greedy: each stage takes the code nearest to what is left
            inputs.append(residual)
            code = _nearest(residual.unsqueeze(0), self.codebooks[m:m + 1])[0]  # (B,)
            chosen = self.codebooks[m, code]  # (B, D)
            total = total + chosen
            residual = residual - chosen
            codes.append(code)
        return total, torch.stack(codes, dim=1), torch.stack(inputs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, D) -> ``(x̂ (B, D), loss)``: x̂ is the decoded codes with a straight-through gradient,
        loss the reconstruction error plus the VQ-VAE losses of the rotated vectors."""
        rotation = self.rotation  # (D, D); requires grad while learned by gradient
        z = x @ rotation  # (B, D)
        with torch.no_grad():
            quantised, codes, inputs = self.assign(z.detach())
        vq_loss, _, _ = vq_losses(z, quantised, self.config.beta)
        # With an orthogonal rotation the straight-through reconstruction term's gradient cancels; the
        # commitment term is what turns the rotation toward the codes.
        output = straight_through(z, quantised) @ rotation.T  # (B, D)
        loss = F.mse_loss(output, x) + vq_loss
        if self.training:
            with torch.no_grad():
                self.ema_update(inputs, codes)
                self.restarts += self.restart_dead_codes(inputs)
        return output, loss

    # -- learning the codebooks ------------------------------------------------------------------------

    @torch.no_grad()
    def ema_update(self, inputs: torch.Tensor, codes: torch.Tensor) -> None:
        """Move each code to the moving average of the stage inputs (M, B, W) assigned to it by ``codes``
        (B, M): counts and sums decay by ``decay``; counts are Laplace-smoothed so no code divides by zero."""
        config = self.config
        counts, sums = self._counts_and_sums(inputs, codes)
        self.cluster_size.mul_(config.decay).add_(counts, alpha=1 - config.decay)
        self.embed_sum.mul_(config.decay).add_(sums, alpha=1 - config.decay)
        total = self.cluster_size.sum(dim=1, keepdim=True)  # (M, 1)
        smoothed = (self.cluster_size + config.epsilon) / (total + config.codes * config.epsilon) * total  # (M, K)
        self.codebooks.copy_(self.embed_sum / smoothed.unsqueeze(-1))

    def _counts_and_sums(self, inputs: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """How many stage inputs (M, B, W) each code got by ``codes`` (B, M), and their sum: (M, K), (M, K, W)."""
        M, K, B = self.config.codebooks, self.config.codes, inputs.shape[1]
        index = codes.T  # (M, B)
        counts = torch.zeros(M, K).scatter_add_(1, index, torch.ones(M, B))
        sums = torch.zeros(M, K, self.width).scatter_add_(1, index.unsqueeze(-1).expand(-1, -1, self.width), inputs)
        return counts, sums

    @torch.no_grad()
    def restart_dead_codes(self, inputs: torch.Tensor) -> int:
        """Put every code whose moving count fell below ``dead_threshold`` on a random stage input of this
        batch (M, B, W), so no code stays unused; returns how many were restarted."""
        threshold = self.config.dead_threshold
        dead = self.cluster_size < threshold  # (M, K)
        count = int(dead.sum())
        if count == 0:
            return 0
        for m in torch.nonzero(dead.any(dim=1)).flatten().tolist():
            rows = torch.nonzero(dead[m]).flatten()
            picks = torch.randint(0, inputs.shape[1], (len(rows),), generator=self.generator)
            self.codebooks[m, rows] = inputs[m, picks]
            self.cluster_size[m, rows] = threshold
            self.embed_sum[m, rows] = inputs[m, picks] * threshold
        return count

    @torch.no_grad()
    def initialise(self, sample: torch.Tensor, batch_size: int) -> None:
        """Codebooks from k-means on the rotated ``sample`` (each sub-space, or each stage's residuals), and
        EMA statistics that agree with them (counts scaled to a batch of ``batch_size``)."""
        import faiss

        config = self.config
        z = sample @ self.rotation  # (S, D)
        S = len(z)
        if S < config.codes:
            raise InputError(f"training a quantiser with {config.codes} codes per codebook needs at least "
                             f"{config.codes} vectors (there are {S}); add vectors or lower codes.")
        residual = z
        for m in range(config.codebooks):
            part = z[:, m * self.width:(m + 1) * self.width] if config.form == "product" else residual
            # Every sample point is used (no FAISS subsampling), and a small sample is not warned about.
            kmeans = faiss.Kmeans(self.width, config.codes, niter=config.kmeans_iterations, seed=config.seed + m,
                                  max_points_per_centroid=S // config.codes + 1, min_points_per_centroid=1)
            kmeans.train(np.ascontiguousarray(part.numpy(), dtype=np.float32))
            self.codebooks[m] = torch.from_numpy(kmeans.centroids)
            if config.form == "residual":
                code = _nearest(residual.unsqueeze(0), self.codebooks[m:m + 1])[0]
                residual = residual - self.codebooks[m, code]
        _, codes, _ = self.assign(z)
        counts = torch.stack([torch.bincount(codes[:, m], minlength=config.codes) for m in range(config.codebooks)])
        self.cluster_size.copy_(counts.float() * min(batch_size, S) / S)
        self.embed_sum.copy_(self.codebooks * self.cluster_size.unsqueeze(-1))

    @torch.no_grad()
    def procrustes_step(self, sample: torch.Tensor) -> None:
        """One round of OPQ's alternation on ``sample`` (S, D): move each code to the mean of the rotated
        vectors nearest to it (a Lloyd step), then set the rotation to the orthogonal R minimising
        ``|| x R - codes(x R) ||`` (with the codes fixed, an orthogonal Procrustes problem: one SVD)."""
        _, codes, inputs = self.assign(sample @ self.rotation)
        counts, sums = self._counts_and_sums(inputs, codes)
        used = counts > 0
        self.codebooks[used] = sums[used] / counts[used].unsqueeze(-1)
        quantised, _, _ = self.assign(sample @ self.rotation)
        u, _, vt = torch.linalg.svd(sample.T.double() @ quantised.double())  # (D, D)
        self.rotation.copy_((u @ vt).float())

    @torch.no_grad()
    def rotation_step(self, step: float) -> None:
        """Turn the rotation by ``step`` radians down the gradient of the loss (in ``rotation.grad``), staying
        orthogonal: with Euclidean gradient G, the skew matrix ``Ω = G Rᵀ - R Gᵀ`` is the steepest direction
        on the rotation group, and ``R <- exp(-step Ω / ||Ω||) R`` (normalised, so the step does not depend
        on the loss' scale)."""
        gradient, rotation = self.rotation.grad, self.rotation
        if gradient is None:
            return
        omega = gradient @ rotation.T - rotation @ gradient.T  # (D, D), skew
        norm = torch.linalg.matrix_norm(omega)
        if norm > 0:
            rotation.copy_(torch.linalg.matrix_exp(-step * omega / norm) @ rotation)
        self.rotation.grad = None

    # -- codes -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, vectors: np.ndarray, batch_size: int = 16_384) -> np.ndarray:
        """The code ids of ``vectors`` (N, D): a (N, M) uint8 array."""
        vectors = self._matrix(vectors)
        codes = np.empty((len(vectors), self.config.codebooks), dtype=np.uint8)
        for start in range(0, len(vectors), batch_size):
            batch = torch.from_numpy(vectors[start:start + batch_size])
            codes[start:start + len(batch)] = self.assign(batch @ self.rotation)[1].numpy()
        return codes

    @torch.no_grad()
    def decode(self, codes: np.ndarray, batch_size: int = 65_536) -> np.ndarray:
        """The vectors that ``codes`` (N, M) stand for: (N, D) float32 (the chosen codes, rotated back)."""
        codes = np.asarray(codes)
        M = self.config.codebooks
        if codes.ndim != 2 or codes.shape[1] != M:
            raise InputError(f"give codes as an (items, {M}) array, one code id per codebook.")
        output = np.empty((len(codes), self.dim), dtype=np.float32)
        for start in range(0, len(codes), batch_size):
            index = torch.from_numpy(codes[start:start + batch_size].astype(np.int64)).T  # (M, B)
            chosen = torch.gather(self.codebooks, 1, index.unsqueeze(-1).expand(-1, -1, self.width))  # (M, B, W)
            z = chosen.transpose(0, 1).reshape(-1, self.dim) if self.config.form == "product" else chosen.sum(0)
            output[start:start + len(z)] = (z @ self.rotation.T).numpy()
        return output

    def reconstruction_error(self, vectors: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
        """Squared distance ``|| x - decode(encode(x)) ||²`` of each vector (N,), from ``codes`` when given."""
        vectors = self._matrix(vectors)
        decoded = self.decode(self.encode(vectors) if codes is None else codes)
        return ((vectors - decoded) ** 2).sum(axis=1)

    def perplexity(self, codes: np.ndarray) -> np.ndarray:
        """Codebook usage: the perplexity of each codebook over ``codes`` (N, M) (see :func:`perplexity`)."""
        return perplexity(codes, self.config.codes)

    @torch.no_grad()
    def lookup_tables(self, queries: np.ndarray) -> np.ndarray:
        """Inner products of each query with every code: (Q, M, K) float32. A vector's approximate inner
        product with a query is the sum, over codebooks, of its code's entry (asymmetric distance)."""
        z = torch.from_numpy(self._matrix(queries)) @ self.rotation  # (Q, D)
        if self.config.form == "product":
            tables = torch.einsum("qmw,mkw->qmk", z.reshape(len(z), self.config.codebooks, self.width),
                                  self.codebooks)
        else:
            tables = torch.einsum("qd,mkd->qmk", z, self.codebooks)
        return tables.numpy()

    def _matrix(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InputError(f"give vectors as an (items, {self.dim}) array; got shape {vectors.shape}.")
        return vectors

    # -- persistence -----------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``quantiser.safetensors`` (rotation, codebooks, EMA statistics)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({name: tensor.contiguous() for name, tensor in self.state_dict().items()},
                  str(directory / WEIGHTS_FILE))
        document = {"kind": "vector-quantiser", "selfsim_version": __version__, "dim": self.dim,
                    "config": asdict(self.config)}
        (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorQuantiser:
        """Read a quantiser written by :meth:`save`."""
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise NotFoundError(f"{directory} holds no vector quantiser; train one with fit_quantiser and save it.")
        document = json.loads((directory / CONFIG_FILE).read_text())
        quantiser = cls(int(document["dim"]), VQConfig(**document["config"]))
        quantiser.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        return quantiser.eval()


def _nearest(inputs: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code, (M, B), of inputs (M, B, W) among codebooks (M, K, W)."""
    M, B, _ = inputs.shape
    squared = (codebooks ** 2).sum(-1).unsqueeze(1)  # (M, 1, K)
    # Rows a piece: the (M, rows, K) distances stay a few MB, which is faster (and far smaller) than all at once.
    rows = max(256, DISTANCE_FLOATS // (M * codebooks.shape[1]))
    codes = torch.empty(M, B, dtype=torch.int64)
    for start in range(0, B, rows):
        distances = torch.baddbmm(squared, inputs[:, start:start + rows], codebooks.transpose(1, 2),
                                  alpha=-2.0)  # (M, rows, K): ||e||² - 2 z·e (||z||² is the same for every code)
        codes[:, start:start + rows] = distances.argmin(dim=-1)
    return codes


@dataclass
class FitReport:
    """What training a quantiser did and how good its codes are on the training vectors."""

    vectors: int
    dim: int
    form: str
    transform: str
    codebooks: int
    codes: int
    bytes_per_vector: int
    seconds: float
    reconstruction_mse: float  # mean over vectors of || x - x̂ ||²
    perplexity: list[float] = field(default_factory=list)  # per codebook, of at most ``codes``
    restarts: int = 0
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch

    @property
    def mean_perplexity(self) -> float:
        """The codebooks' perplexities averaged."""
        return float(np.mean(self.perplexity)) if self.perplexity else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "mean_perplexity": round(self.mean_perplexity, 2)}


def fit_quantiser(vectors: np.ndarray, config: VQConfig = VQConfig(),
                  progress: Callable[[int, float], None] | None = None) -> tuple[VectorQuantiser, FitReport]:
    """Train a :class:`VectorQuantiser` on ``vectors`` (N, D): k-means codebooks on a sample, then ``epochs``
    passes of EMA updates (and the rotation's learning); ``progress(epoch, mean loss)`` after each pass.

    Returns the quantiser (in eval mode) and a :class:`FitReport` measured on (a sample of) ``vectors``.
    """
    started = time.perf_counter()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise InputError("give the vectors to train on as a non-empty (items, dimensions) array.")
    N, D = vectors.shape
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    quantiser = VectorQuantiser(D, config)
    data = torch.from_numpy(vectors)
    sample = data[np.sort(rng.choice(N, size=min(N, config.kmeans_sample), replace=False))]  # (S, D)
    losses: list[float] = []
    if config.transform != "none" and config.rotation_epochs:
        # First the rotation, with codebooks that follow it; then codebooks made afresh in its final frame
        # (the codebooks of an earlier frame fit the last one only roughly).
        with torch.no_grad():
            quantiser.initialise(sample, config.batch_size)
        if config.transform == "procrustes":
            for _ in range(config.rotation_epochs):
                quantiser.procrustes_step(sample)
        else:
            losses += _passes(quantiser, data, config, config.rotation_epochs, rng, progress, learn_rotation=True)
    with torch.no_grad():
        quantiser.initialise(sample, config.batch_size)
    losses += _passes(quantiser, data, config, config.epochs, rng, progress, first=len(losses))
    quantiser.eval()
    check = vectors if N <= 100_000 else vectors[rng.choice(N, size=100_000, replace=False)]
    codes = quantiser.encode(check)
    report = FitReport(vectors=N, dim=D, form=config.form, transform=config.transform,
                       codebooks=config.codebooks, codes=config.codes, bytes_per_vector=config.bytes_per_vector,
                       seconds=round(time.perf_counter() - started, 2),
                       reconstruction_mse=float(quantiser.reconstruction_error(check, codes).mean()),
                       perplexity=[round(float(p), 2) for p in quantiser.perplexity(codes)],
                       restarts=quantiser.restarts, losses=[round(loss, 6) for loss in losses])
    return quantiser, report


def _passes(quantiser: VectorQuantiser, data: torch.Tensor, config: VQConfig, epochs: int, rng: np.random.Generator,
            progress: Callable[[int, float], None] | None, first: int = 0,
            learn_rotation: bool = False) -> list[float]:
    """``epochs`` training passes over (a sample of) ``data``: EMA codebook updates and dead-code restarts in
    the forward pass, and with ``learn_rotation`` a gradient step of the rotation. Mean loss per pass."""
    losses = []
    quantiser.train()
    quantiser.rotation.requires_grad_(learn_rotation)
    for epoch in range(epochs):
        order = torch.from_numpy(rng.permutation(len(data))[:config.epoch_sample])
        total, batches = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = data[order[start:start + config.batch_size]]  # (B, D)
            with torch.set_grad_enabled(learn_rotation):
                _, loss = quantiser(batch)
            if learn_rotation:
                loss.backward()
                quantiser.rotation_step(config.lr)
            total, batches = total + loss.item(), batches + 1
        losses.append(total / max(batches, 1))
        if progress is not None:
            progress(first + epoch + 1, losses[-1])
    quantiser.rotation.requires_grad_(False)
    return losses


def held_out_errors(vectors: np.ndarray, config: VQConfig, folds: int = 2) -> np.ndarray:
    """Each vector's reconstruction error ``|| x - x̂ ||²`` under a quantiser trained without it: (N,).

    The vectors are split at random into ``folds`` parts, and each part is encoded by a quantiser fitted on
    the others: one that saw an isolated vector may spend a code on it and rebuild it well, while one that
    did not shows how unlike the rest it is.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if folds < 2 or len(vectors) < folds:
        raise InputError(f"held-out errors need at least 2 folds and a vector per fold; got {folds} folds for "
                         f"{len(vectors)} vectors.")
    fold_of = np.random.default_rng(config.seed).permutation(len(vectors)) % folds
    errors = np.empty(len(vectors), dtype=np.float32)
    for fold in range(folds):
        quantiser, _ = fit_quantiser(vectors[fold_of != fold], config)
        errors[fold_of == fold] = quantiser.reconstruction_error(vectors[fold_of == fold])
    return errors
