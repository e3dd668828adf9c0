"""Past one machine: the same jobs run on a Ray cluster (the optional extra ``selfsim[ray]``).

>>> with ray_session("local") as ray:                                              # doctest: +SKIP
...     with Collection.open_or_create("notes") as notes:
...         index_files_on_ray(notes, ["a.jsonl", "b.jsonl"], workers=8)
...     train_encoder_on_ray(read_training_data("pairs.tsv", "cosine"), "out/model", workers=4)

Every function here needs a connected cluster: open one with :func:`ray_session` (``"local"`` starts one on
this machine; ``"auto"`` or ``HOST:PORT`` joins a running one). Ray is imported only when one is used.

The sequence recommender trains on the cluster when its training config says so:
``RecommendConfig(training=replace(SequenceTrainingConfig(), distributed=RayTrainConfig(workers=4)))`` given to
:meth:`Collection.train_recommender` inside a :func:`ray_session` (see docs/ray.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from selfsim.app.collection import Collection
from selfsim.app.training import TrainingData
from selfsim.config import DEFAULT_ENCODER, IngestConfig
from selfsim.tasks.distributed.cluster import LOCAL, ray_session
from selfsim.tasks.distributed.pipeline import RayIndexConfig, ray_ingest_files
from selfsim.tasks.distributed.shards import ShardConfig, ShardedIndex, nearest_items_sharded
from selfsim.tasks.ingest import IngestReport
from selfsim.training.distributed import RayTrainConfig, train_text_encoder_ray
from selfsim.training.text import TextTrainConfig, TrainReport, Validator

__all__ = ["LOCAL", "RayIndexConfig", "RayTrainConfig", "ShardConfig", "ShardedIndex", "index_files_on_ray",
           "ray_session", "shard_collection", "sharded_search", "train_encoder_on_ray"]


def index_files_on_ray(collection: Collection, paths: Sequence[str | Path], config: IngestConfig = IngestConfig(),
                       workers: int | None = None, threads: int = 1, progress: Callable[[int], None] | None = None,
                       ray_config: RayIndexConfig | None = None) -> IngestReport:
    """:meth:`Collection.index_files` with reading, chunking and encoding spread over the cluster's workers
    (``workers`` encoder actors of ``threads`` threads; default one per CPU) and the writes made here, by one
    writer. The report is the one a local run gives."""
    ray_config = ray_config or RayIndexConfig(workers=workers, threads=threads)
    return ray_ingest_files(collection.store, collection.encoder, paths, config, ray_config, progress)


def train_encoder_on_ray(data: TrainingData, output_dir: str | Path, config: TextTrainConfig = TextTrainConfig(),
                         base: str | Path = DEFAULT_ENCODER, validator: Validator | None = None, resume: bool = False,
                         workers: int = 2, threads: int = 1, use_gpu: bool = False,
                         progress: Callable[[int], None] | None = None) -> TrainReport:
    """:func:`selfsim.app.train_encoder_on` on ``workers`` data-parallel Ray Train workers (DDP), each taking
    its share of every global batch of ``config.batch_size`` rows."""
    return train_text_encoder_ray(base, data.examples, output_dir, config, data_kind=data.kind,
                                  ray_config=RayTrainConfig(workers, threads, use_gpu), validator=validator,
                                  resume=resume, data_description=data.description, progress=progress)


def shard_collection(collection: Collection, shards: int = 4, spec: str | None = None) -> ShardedIndex:
    """The collection's vectors split over ``shards`` Ray actors (each an index of ``spec``, default the
    collection's own); close it (or use it as a context manager) to free the actors."""
    return ShardedIndex.from_store(collection.store, ShardConfig(shards=shards, spec=spec))


def sharded_search(collection: Collection, index: ShardedIndex, query: str | np.ndarray,
                   k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` items nearest ``query`` (a text, or a unit vector) through the shards, each as
    ``(item id, score of its best chunk)``; shards behind the collection are caught up first."""
    vector = collection.encoder.encode([query])[0] if isinstance(query, str) else np.asarray(query, np.float32)
    return nearest_items_sharded(collection.store, index, vector, k)
