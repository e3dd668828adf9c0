"""SetFit-style contrastive fine-tune: adapt a sentence encoder to a few labels through label-derived pairs.

Stage one of SetFit (Tunstall et al. 2022): pairs of labelled texts, positive
when they share a class, are fed to a cosine-similarity loss, so texts of one
class move together and classes move apart. Stage two — a logistic-regression
head on the new embeddings — is :class:`selfsim.tasks.classify.probe.LinearProbe`.

The result is a sentence-transformers model directory that
:class:`selfsim.encoders.sentence.SentenceEncoder` loads like any other.
Steps are few (hundreds), so this runs on a CPU in minutes. :func:`finetune_encoder`
is the step both ``selfsim classify fit --finetune`` and ``selfsim eval classify``
take before the few-label classifier: encoder in, fine-tuned encoder out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.label_pairs import balanced_batches
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, NotFoundError
from selfsim.objectives.pair_cosine import CosinePairLoss


@dataclass(frozen=True)
class ContrastiveFinetuneConfig:
    """How long and how hard to fine-tune.

    Each step encodes ``batch_size`` labelled texts (class-balanced) and learns
    from every pair among them. Steps are ``epochs * n_labelled / batch_size``,
    clipped to ``[min_steps, max_steps]``, so 16 labels still train and 1,000
    labels stay cheap. ``max_length`` truncates texts during training only.
    """

    epochs: float = 20.0
    min_steps: int = 30
    max_steps: int = 60
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 64
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 2 or self.max_steps < 1 or self.min_steps < 0 or self.min_steps > self.max_steps:
            raise ConfigError("use batch_size >= 2 and 0 <= min_steps <= max_steps for the fine-tune.")

    def steps_for(self, n_labelled: int) -> int:
        """Optimiser steps for ``n_labelled`` training texts."""
        wanted = math.ceil(self.epochs * n_labelled / self.batch_size)
        return int(min(self.max_steps, max(self.min_steps, wanted)))


@dataclass(frozen=True)
class FinetuneReport:
    """Where the fine-tuned model went and how training went."""

    model_dir: Path
    steps: int
    texts_seen: int
    seconds: float
    first_loss: float
    last_loss: float


def contrastive_finetune(model_dir: str | Path, texts: Sequence[str], labels: Sequence[Any],
                         output_dir: str | Path, config: ContrastiveFinetuneConfig = ContrastiveFinetuneConfig(),
                         progress: Callable[[int], None] | None = None) -> FinetuneReport:
    """Fine-tune the sentence-transformers model in ``model_dir`` on pairs from ``texts``/``labels``;
    save it to ``output_dir`` and report. ``progress(1)`` is called after every step."""
    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # loading and saving weights should not draw bars

    model_dir, output_dir = Path(model_dir), Path(output_dir)
    if not (model_dir / "modules.json").is_file():
        raise NotFoundError(f"{model_dir} is not a sentence-transformers model directory; the contrastive "
                            "fine-tune needs one (the default encoder is).")
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ConfigError(f"got {len(texts)} texts but {len(labels)} labels; give one label per text.")
    if len(np.unique(labels)) < 2:
        raise ConfigError("a contrastive fine-tune needs labels of at least two classes; label more items.")
    torch.manual_seed(config.seed)
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _train(model_dir, texts, labels, output_dir, config, progress)
    finally:
        torch.set_num_threads(threads_before)


def finetune_encoder(encoder: Encoder | None, texts: Sequence[str], labels: Sequence[Any], output_dir: str | Path,
                     config: ContrastiveFinetuneConfig = ContrastiveFinetuneConfig(),
                     progress: Callable[[int], None] | None = None, *, name: str = "finetuned",
                     advice: str = "use one.") -> tuple[Encoder, FinetuneReport]:
    """``encoder`` contrastively fine-tuned on ``texts``/``labels``, saved to ``output_dir`` and loaded back.

    ``encoder`` must be a sentence-transformers model (it has a ``model_dir``);
    otherwise (or when there is none) a :class:`ConfigError` ends in ``advice``. The new encoder is
    called ``name``.
    """
    model_dir = getattr(encoder, "model_dir", None)
    if model_dir is None:
        raise ConfigError(f"the contrastive fine-tune needs a sentence-transformers encoder; {advice}")
    report = contrastive_finetune(model_dir, texts, labels, output_dir, config, progress)
    from selfsim.encoders.sentence import SentenceEncoder

    return SentenceEncoder(report.model_dir, name=name), report


def finetune_rows(labels: Sequence[Any], trusted: np.ndarray | None = None) -> np.ndarray:
    """The labels the contrastive fine-tune learns from: the trusted (human) ones when they cover two classes,
    else all of them.

    Pairs from weak labels teach the encoder their mistakes; the head can weigh
    them by confidence instead. Measured on SST-2 (64 labels per class, 3
    draws, 4,150 weak labels): fine-tuning on the human labels alone and then
    fitting the head on all of them beat fine-tuning on the human labels plus
    512 confident weak ones by a point (``docs/classify.md``).
    """
    labels = np.asarray(labels)
    if trusted is None:
        return np.arange(len(labels))
    human = np.flatnonzero(trusted)
    return human if len(np.unique(labels[human])) >= 2 else np.arange(len(labels))


def _train(model_dir: Path, texts: Sequence[str], labels: np.ndarray, output_dir: Path,
           config: ContrastiveFinetuneConfig, progress: Callable[[int], None] | None) -> FinetuneReport:
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    saved_length = model.max_seq_length
    model.max_seq_length = min(config.max_length, saved_length or config.max_length)
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    steps = config.steps_for(len(texts))
    batches = balanced_batches(labels, config.batch_size, steps, seed=config.seed)
    codes = torch.as_tensor(np.unique(labels, return_inverse=True)[1])
    loss_module = CosinePairLoss(model)
    decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm"))]
    no_decay = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm"))]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate)
    warmup = max(1, int(config.warmup_fraction * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup))))
    model.train()
    losses: list[float] = []
    for batch in batches:
        features = tokenize([texts[i] for i in batch])
        _, loss = loss_module(features, codes[batch])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(1)
    model.eval()
    model.max_seq_length = saved_length  # the saved model reads texts as long as the original did
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(output_dir))
    head = float(np.mean(losses[:10])) if losses else float("nan")
    tail = float(np.mean(losses[-10:])) if losses else float("nan")
    return FinetuneReport(output_dir, steps, sum(len(b) for b in batches), time.perf_counter() - started, head, tail)
