"""Training a text encoder from files, step by step: read and check the data, pick a validation set, find a
learning rate, train, or draw a learning curve over training-set sizes.

>>> data = read_training_data("pairs.tsv", "cosent")                          # doctest: +SKIP
>>> validator = training_validator(sts="sts-dev.tsv")                          # doctest: +SKIP
>>> train_encoder_on(data, "out/model", validator=validator)                   # doctest: +SKIP

:func:`selfsim.app.train_encoder` does all of it in one call; these steps are for callers that show
progress or stop early (the ``selfsim train`` command). File layouts: :mod:`selfsim.data.pair_files`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsim.app.collection import Collection
from selfsim.config import DEFAULT_ENCODER
from selfsim.data.pair_files import Example, read_examples
from selfsim.errors import ConfigError
from selfsim.evaluation.retrieval import read_corpus, read_qrels, read_queries
from selfsim.evaluation.sts import read_sts
from selfsim.objectives.text_objective import objective_class
from selfsim.tasks.adapt import AdaptConfig, AdaptReport, Progress
from selfsim.tasks.adapt_queries import TeacherConfig
from selfsim.tasks.pseudo_queries import read_query_file
from selfsim.training.lr_finder import LrFinderConfig, LrFinderResult, find_learning_rate
from selfsim.training.schedules import OptimizerConfig
from selfsim.training.size_curve import size_curve
from selfsim.training.text import TextTrainConfig, TrainReport, Validator, train_text_encoder
from selfsim.training.validation import RetrievalValidator, StsValidator

__all__ = ["DEFAULT_DATA_KIND", "LrFinderResult", "OptimizerConfig", "TeacherConfig", "TrainingData", "Validator",
           "adapt_collection_to", "find_rate", "read_query_file", "read_training_data", "train_encoder_on",
           "train_size_curve", "training_validator"]

DEFAULT_DATA_KIND: dict[str, str] = {
    "simcse": "texts", "denoise": "texts", "crops": "texts", "triplet": "triplets",
    "cosine": "scored", "cosent": "scored", "contrastive": "labelled", "pairs": "pairs",
}
"""The kind of rows each objective reads when no kind is given."""


@dataclass(frozen=True)
class TrainingData:
    """The rows of a training file, the kind they were read as, and how to describe them in a model card."""

    examples: list[Example]
    kind: str
    description: str

    def __len__(self) -> int:
        return len(self.examples)


def read_training_data(path: str | Path, objective: str, kind: str | None = None) -> TrainingData:
    """The rows of ``path`` read as ``kind`` (by default what ``objective`` needs, see :data:`DEFAULT_DATA_KIND`).

    An unknown objective fails before the file is read; rows of a kind the objective cannot learn from
    fail after. Both are :class:`~selfsim.errors.ConfigError` sentences.
    """
    path = Path(path)
    objective_class(objective)  # an unknown name fails before the file is read
    rows_kind = kind or DEFAULT_DATA_KIND[objective]
    examples = read_examples(path, rows_kind)  # type: ignore[arg-type]
    objective_class(objective).check_data(rows_kind, path.name)
    return TrainingData(examples, rows_kind, f"{path.name} ({rows_kind})")


def training_validator(sts: str | Path | None = None, beir: str | Path | None = None) -> Validator | None:
    """The validator of a held-out set: STS pairs (``score sentence1 sentence2``; Spearman) or a BEIR folder
    (``corpus.jsonl``, ``queries*.jsonl``, ``qrels/*.tsv``; nDCG@10); None when neither is given."""
    if sts is not None and beir is not None:
        raise ConfigError("validate on one set: give --valid-sts or --valid-beir, not both.")
    if sts is not None:
        return StsValidator(read_sts(sts))
    if beir is not None:
        folder = Path(beir)
        qrels_files = sorted((folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        query_files = sorted(folder.glob("queries*.jsonl"))
        if not (folder / "corpus.jsonl").is_file() or not qrels_files or not query_files:
            raise ConfigError(f"{folder} is not a BEIR folder; it needs corpus.jsonl, queries*.jsonl and "
                              "qrels/*.tsv.")
        corpus = {record.id: record.text for record in read_corpus(folder / "corpus.jsonl")}
        return RetrievalValidator(corpus, read_queries(query_files[0]), read_qrels(qrels_files[0]))
    return None


def train_encoder_on(data: TrainingData, output_dir: str | Path, config: TextTrainConfig = TextTrainConfig(),
                     base: str | Path = DEFAULT_ENCODER, validator: Validator | None = None, resume: bool = False,
                     progress: Callable[[int], None] | None = None) -> TrainReport:
    """Fine-tune ``base`` on ``data`` with ``config`` and save a model directory to ``output_dir`` (validated by
    ``validator``, best weights kept; ``progress(n)`` after each ``n`` optimiser steps; ``resume`` continues
    from the last checkpoint there). ``config.total_steps(len(data))`` is how many steps it will take."""
    return train_text_encoder(base, data.examples, output_dir, config, data_kind=data.kind, validator=validator,
                              resume=resume, data_description=data.description, progress=progress)


def find_rate(data: TrainingData, output_dir: str | Path, config: TextTrainConfig = TextTrainConfig(),
              base: str | Path = DEFAULT_ENCODER, steps: int = 100) -> LrFinderResult:
    """The learning-rate range test over ``steps`` batches: the suggested rate, the losses, and
    ``lr_find.png``/``lr_find.json`` written to ``output_dir`` (no model is saved)."""
    return find_learning_rate(base, data.examples, output_dir, config, LrFinderConfig(steps=steps),
                              data_kind=data.kind)


def train_size_curve(data: TrainingData, output_dir: str | Path, config: TextTrainConfig, validator: Validator,
                     sizes: Sequence[int], base: str | Path = DEFAULT_ENCODER) -> dict[str, Any]:
    """Train on nested subsets of ``data`` of each of ``sizes`` and score each on ``validator``; writes
    ``size_curve.json`` and ``size_curve.png`` to ``output_dir`` and returns them (``points`` and ``plot``)."""
    return size_curve(base, data.examples, output_dir, config, validator, sizes, data_kind=data.kind,
                      data_description=data.description)


def adapt_collection_to(collection: Collection, config: AdaptConfig = AdaptConfig(),
                        queries: Sequence[str] | None = None, progress: Progress | None = None) -> AdaptReport:
    """Adapt ``collection``'s encoder as :meth:`Collection.adapt` does, learning from ``queries`` (a query log,
    e.g. :func:`read_query_file`; ``teacher`` objective) when given, and from pseudo-queries made from the
    collection otherwise. With the teacher, the collection switches only if the adapted model beats the base on
    the label-free validation; ``report.accepted`` and ``report.validation`` say what happened."""
    return collection.adapt(config, progress, queries)
