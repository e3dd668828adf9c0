"""The facade users hold: :class:`Collection`, a store, its encoder and the tasks, composed.

>>> from selfsim import Collection
>>> with Collection.create("notes", encoder="all-MiniLM-L6-v2") as notes:   # doctest: +SKIP
...     notes.add([{"id": "1", "text": "Reset a forgotten password", "team": "auth"}])
...     hits = notes.search("I can't log in", k=5, filter={"team": "auth"})
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.app.classifier import Classifier
from selfsim.app.keys import Keys
from selfsim.config import (
    DEFAULT_ENCODER,
    ChunkingConfig,
    CollectionConfig,
    IngestConfig,
    SearchConfig,
    SearchMode,
)
from selfsim.data.readers import as_json, value_problem
from selfsim.data.records import Record, check_id
from selfsim.encoders.base import Backend, Encoder, backend_of, weights_of
from selfsim.encoders.pool import EncoderPool
from selfsim.errors import ConfigError, InputError, NotFoundError
from selfsim.registry import DEFAULT_BACKEND, load_encoder
from selfsim.store.browse import ItemPage
from selfsim.store.collection import DATABASE_FILE, Store
from selfsim.store.database import StoredItem
from selfsim.store.filters import Filter
from selfsim.store.integrity import CheckReport
from selfsim.store.interactions import InteractionStore
from selfsim.store.labels import LabelStore
from selfsim.tasks import ingest
from selfsim.tasks.adapt import AdaptConfig, AdaptReport, adapt_collection, reembed
from selfsim.tasks.adapt import Progress as AdaptProgress
from selfsim.tasks.duplicates.collection import find_duplicates, write_groups
from selfsim.tasks.duplicates.finder import DuplicateFinder, DuplicatesConfig
from selfsim.tasks.explain import collection as explain_task
from selfsim.tasks.explain.classify import ClassifyExplainConfig
from selfsim.tasks.explain.collection import TopicExplanation
from selfsim.tasks.explain.explanation import Explanation
from selfsim.tasks.explain.match import MatchConfig
from selfsim.tasks.explain.shapley import ShapleyConfig
from selfsim.tasks.ingest import IngestReport
from selfsim.tasks.outliers.collection import find_outliers, write_outliers
from selfsim.tasks.outliers.detector import OutlierDetector, OutliersConfig
from selfsim.tasks.recommend import collection as recommend_task
from selfsim.tasks.recommend.collection import InteractionImportReport, Recommendation, RecommendConfig
from selfsim.tasks.search.collection import Hit, neighbours, search
from selfsim.tasks.topics.collection import (
    MapData,
    TopicSummary,
    cluster_collection,
    collection_map,
    topic_summaries,
    write_topics,
)
from selfsim.tasks.topics.model import TopicConfig, TopicResult

RecordLike = Record | Mapping[str, Any]


class Collection:
    """A directory of items with their chunks, embeddings, keyword index and vector index.

    Create one with :meth:`create`, reopen it with :meth:`open`; use it as a
    context manager (or call :meth:`close`) so the vector index is saved.
    """

    def __init__(self, store: Store, encoder: Encoder | None = None,
                 search_config: SearchConfig = SearchConfig()) -> None:
        self.store = store
        self._encoder = encoder
        self.search_config = search_config
        if encoder is not None:
            self._check_encoder(encoder)

    @property
    def encoder(self) -> Encoder:
        """The collection's encoder, loaded on first use (keyword search and reads never need it)."""
        if self._encoder is None:
            model = load_encoder(self.store.encoder.name, self.backend)
            self._check_encoder(model)
            self._encoder = model
        return self._encoder

    @property
    def backend(self) -> Backend:
        """What computes the collection's vectors: ``torch``, ``onnx`` or ``onnx-int8``."""
        return backend_of(self.store.encoder.version)

    @property
    def config(self) -> CollectionConfig:
        """The collection's configuration: the encoder it was made with, the index spec, the chunking."""
        return self.store.config

    @property
    def path(self) -> Path:
        """The collection's directory."""
        return Path(self.store.directory)

    def _check_encoder(self, model: Encoder) -> None:
        _, name, version, dim = self.store.encoder
        if model.version != version or model.dim != dim:
            if weights_of(model.version) == weights_of(version) and model.dim == dim:
                raise ConfigError(f"{self.store.directory} was embedded by the {backend_of(version)} backend and "
                                  f"the encoder given runs on {backend_of(model.version)}; vectors of two backends "
                                  f"are not mixed: re-encode the collection with reindex --backend "
                                  f"{backend_of(model.version)}, or use {backend_of(version)}.")
            raise ConfigError(f"{self.store.directory} was embedded with {name} (weights {version}) but the "
                              f"encoder given has weights {model.version}; open it with the model that made it.")

    def _pool(self, model: Encoder, processes: int) -> EncoderPool:
        """``model`` run by ``processes`` single-threaded workers (loaded by name, so they share its weights)."""
        load = partial(load_encoder, self.store.encoder.name, backend_of(model.version), threads=1)
        return EncoderPool(model, load, processes)

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, encoder: str | Encoder = DEFAULT_ENCODER, index: str = "Flat",
               chunking: ChunkingConfig = ChunkingConfig(), backend: Backend = DEFAULT_BACKEND) -> Collection:
        """Make a new collection at ``path`` (a directory that must not hold one yet).

        ``encoder`` is a registered name, a sentence-transformers model directory
        or an :class:`~selfsim.encoders.base.Encoder`; ``index`` a FAISS spec, or ``"auto"``
        (Flat, HNSW32 or IVF-PQ by size, re-chosen when the collection grows past a threshold);
        ``backend`` what runs a named encoder (``torch``, ``onnx``, ``onnx-int8``),
        which the collection remembers and uses for every later query and write.
        """
        path = Path(path)
        if (path / DATABASE_FILE).exists():
            raise ConfigError(f"{path} already holds a collection; open it instead or pick a new path.")
        model = load_encoder(encoder, backend) if isinstance(encoder, str) else encoder
        config = CollectionConfig(encoder=model.name, index=index, chunking=chunking)
        store = Store.create(path, config, model.name, model.version, model.dim)
        return cls(store, model)

    @classmethod
    def open(cls, path: str | Path, encoder: Encoder | None = None) -> Collection:
        """Open the collection at ``path``. Its encoder (the one it was made with, or ``encoder``,
        which must be that same model) is loaded when first needed."""
        return cls(Store.open(path), encoder)

    @classmethod
    def open_or_create(cls, path: str | Path, *, discard_if_empty: bool = False,
                       **create_options: Any) -> Collection:
        """Open the collection at ``path``, creating it (with ``create_options``) if there is none.

        With ``discard_if_empty`` a collection this call creates is removed again by :meth:`close`
        if nothing was stored in it (the command that made it failed, or had nothing to store),
        so a failed first ``index`` leaves no empty collection behind; :attr:`discarded` says so.
        """
        if (Path(path) / DATABASE_FILE).exists():
            encoder = create_options.get("encoder")
            return cls.open(path, encoder if isinstance(encoder, Encoder) else None)
        created = _CreatedPaths(Path(path)) if discard_if_empty else None
        collection = cls.create(path, **create_options)
        collection._created = created
        return collection

    _created: _CreatedPaths | None = None
    discarded: bool = False  # set by close() when it removed an empty collection this handle created

    def close(self) -> None:
        """Save the vector index and close the database (see :meth:`open_or_create` for ``discard_if_empty``)."""
        created, self._created = self._created, None
        empty = created is not None and self._holds_nothing()
        self.store.close()
        if created is not None and empty:
            created.remove()
            self.discarded = True

    def _holds_nothing(self) -> bool:
        try:
            return len(self) == 0 and self.interactions.stats().events == 0
        except Exception:  # a store already closed or broken: keep what is there, never guess
            return False

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------------

    def add(self, records: Iterable[RecordLike], batch_size: int = 256,
            progress: ingest.Progress | None = None) -> IngestReport:
        """Add new items; an id that already exists is an error (its batch is not written).

        Records are :class:`~selfsim.Record` objects or mappings with ``id``, ``text`` and any
        other fields, which become metadata. ``progress(n)`` is called as batches are stored.
        """
        return ingest.write_records(self.store, self.encoder, map(_as_record, records), replace=False,
                                    batch_size=batch_size, progress=progress)

    def upsert(self, records: Iterable[RecordLike], batch_size: int = 256,
               progress: ingest.Progress | None = None) -> IngestReport:
        """Add items, replacing any item with the same id (text, metadata, chunks and vectors)."""
        return ingest.write_records(self.store, self.encoder, map(_as_record, records), replace=True,
                                    batch_size=batch_size, progress=progress)

    def index_files(self, paths: Sequence[str | Path], config: IngestConfig = IngestConfig(),
                    progress: ingest.Progress | None = None, processes: int = 1) -> IngestReport:
        """Upsert every record of JSONL, CSV/TSV or Parquet files; see :func:`selfsim.tasks.ingest.ingest_files`.

        The report counts records that replaced an earlier one with the same id (``replaced``)
        and names files that held no records (``empty_files``). ``processes`` > 1 encodes in that
        many single-threaded processes (see :class:`~selfsim.encoders.pool.EncoderPool`)."""
        with self._pool(self.encoder, processes) as encoder:
            return ingest.ingest_files(self.store, encoder, paths, config, progress)

    @staticmethod
    def check_files(paths: Sequence[str | Path], config: IngestConfig = IngestConfig()) -> None:
        """Raise what would stop :meth:`index_files` reading any of ``paths`` at all (missing, a directory,
        unknown format, not gzip, no text column), before a collection is created or a model loaded."""
        ingest.check_files(paths, config)

    def delete(self, ids: Iterable[str] | str) -> list[str]:
        """Delete items by id in one transaction (one id may be given on its own); returns the ids that
        did not exist. Ids follow the rule of :mod:`selfsim.data.records` (``1`` is ``"1"``)."""
        if isinstance(ids, (str, int)):
            ids = [ids]  # one id, not the characters of one
        return self.store.delete([check_id(i) for i in ids]).missing

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Merge metadata fields into items by id (a None value removes the field), in one
        transaction; returns the ids that do not exist. Texts and vectors are untouched."""
        return self.store.update_metadata({check_id(item_id): fields for item_id, fields in updates.items()})

    def set_index(self, spec: str) -> None:
        """Rebuild the vector index with a new FAISS spec (``"Flat"``, ``"HNSW32"``, ``"IVF256,Flat"``, ``"auto"``)."""
        self.store.rebuild_index(spec)
        self.store.save_index()

    # -- reads -----------------------------------------------------------------------------------

    def get(self, item_id: str) -> StoredItem:
        """The item with this id; raises :class:`~selfsim.errors.NotFoundError` when there is none."""
        item = self.store.get(check_id(item_id))
        if item is None:
            raise NotFoundError(f"no item with id {item_id!r} in {self.store.directory}; check the id.")
        return item

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self.store.get(item_id) is not None

    def __len__(self) -> int:
        return self.store.count()

    def __iter__(self) -> Iterator[StoredItem]:
        return self.store.iterate()

    def items(self, filter: Filter | None = None) -> Iterator[StoredItem]:
        """Every item passing ``filter``, in the order they were first added."""
        return self.store.iterate(filter)

    def vectors(self, filter: Filter | None = None) -> tuple[list[str], np.ndarray]:
        """``(ids, vectors)``: one unit vector per item passing ``filter`` (the mean of its chunks)."""
        return self.store.item_vectors(filter)

    def page(self, offset: int = 0, limit: int = 50, filter: Filter | None = None) -> ItemPage:
        """Items ``offset`` to ``offset + limit`` passing ``filter`` (in the order first added) and their total."""
        return self.store.page(filter, offset, limit)

    def neighbours(self, item_id: str, k: int = 10) -> list[Hit]:
        """The ``k`` items nearest the item ``item_id`` by meaning (itself left out), best first."""
        return neighbours(self.store, check_id(item_id), k)

    def search(self, query: str, k: int = 10, mode: SearchMode | None = None,
               filter: Filter | None = None, config: SearchConfig | None = None) -> list[Hit]:
        """The ``k`` best items for ``query``: ``mode`` is ``"dense"``, ``"keyword"`` or ``"hybrid"``
        (the default); ``filter`` restricts by metadata (see :mod:`selfsim.store.filters`)."""
        return search(self.store, lambda: self.encoder, query, k, mode, filter, config or self.search_config)

    # -- other jobs ------------------------------------------------------------------------------

    def duplicates(self, config: DuplicatesConfig = DuplicatesConfig(), filter: Filter | None = None,
                   write: bool = False, field: str = "duplicate_group") -> DuplicateFinder:
        """Duplicate groups among items passing ``filter``; ``write`` stores metadata ``field`` (the group)
        and ``<field>_keep`` (whether to keep the item) so search can filter or collapse them."""
        finder = find_duplicates(self.store, config, filter)
        if write:
            self.write_duplicates(finder, field)
        return finder

    def write_duplicates(self, finder: DuplicateFinder, field: str = "duplicate_group") -> int:
        """Store the groups of ``finder`` as :meth:`duplicates` with ``write`` does (an earlier run's fields on
        items in no group now are removed); returns how many items were updated."""
        return write_groups(self.store, finder, field, f"{field}_keep")

    def outliers(self, config: OutliersConfig = OutliersConfig(), filter: Filter | None = None,
                 write: bool = False, field: str = "outlier") -> OutlierDetector:
        """Items passing ``filter`` with few neighbours within a radius, loneliest first, each with the reason;
        ``write`` stores metadata ``field`` (true), ``<field>_score`` and ``<field>_reason`` on the outliers."""
        detector = find_outliers(self.store, config, filter)
        if write:
            self.write_outliers(detector, field)
        return detector

    def write_outliers(self, detector: OutlierDetector, field: str = "outlier") -> int:
        """Store the outliers of ``detector`` as :meth:`outliers` with ``write`` does (an earlier run's fields on
        items that are not outliers now are removed); returns how many items were updated."""
        return write_outliers(self.store, detector, field)

    def topics(self, config: TopicConfig = TopicConfig(), filter: Filter | None = None,
               write: bool = False, field: str = "cluster", measure: bool = True) -> TopicResult:
        """Clusters with keywords over items passing ``filter``; ``write`` stores metadata ``field``
        (the topic, -1 for noise) and ``<field>_keywords``, and saves the topics beside the collection so that
        items added later get the nearest one (or -1) as they are indexed; ``measure`` scores coherence and
        separation."""
        result = cluster_collection(self.store, config, filter, measure)
        if write:
            self.write_topics(result, field)
        return result

    def write_topics(self, result: TopicResult, field: str = "cluster") -> int:
        """Store the topics of ``result`` as :meth:`topics` with ``write`` does (an earlier run's fields on items
        not clustered now are removed); returns how many items were updated."""
        return write_topics(self.store, result, field, f"{field}_keywords")

    def topic_list(self, field: str = "cluster", keywords_field: str | None = None) -> list[TopicSummary]:
        """The topics :meth:`topics` wrote (``write=True``) into metadata ``field``, largest first, with their
        keywords (from ``<field>_keywords``); empty when none were written."""
        return topic_summaries(self.store, field, keywords_field or f"{field}_keywords")

    def map_points(self, field: str = "cluster", limit: int | None = None, method: str = "auto",
                   seed: int = 0) -> MapData:
        """2-D map coordinates of the items (``limit`` of them, spread evenly, when given), each with its
        value of ``field``, and each topic's centre and keywords; computed once per store generation."""
        return collection_map(self.store, field, limit, method, seed)

    @property
    def labels(self) -> LabelStore:
        """The collection's label sets (human, pseudo, weak and predicted labels)."""
        return self.store.labels

    @property
    def keys(self) -> Keys:
        """The collection's API keys for the HTTP service (see :mod:`selfsim.app.keys`)."""
        return Keys(self.store.keys)

    def classifier(self, task: str) -> Classifier:
        """The classifier of label set ``task``: ``fit``, ``predict``, ``suggest``, ``weak`` (see
        :class:`~selfsim.app.classifier.Classifier`)."""
        return Classifier(self.store, lambda: self.encoder, task)

    def set_backend(self, backend: Backend, progress: AdaptProgress | None = None, processes: int = 1) -> int:
        """Re-encode every chunk with the collection's model run by ``backend`` and switch to those vectors
        (search answers from the old ones until the switch); returns the number of chunks encoded.
        ``processes`` > 1 encodes in that many single-threaded processes."""
        if backend == self.backend:
            raise ConfigError(f"{self.store.directory} already uses the {backend} backend; nothing to re-encode.")
        model = load_encoder(self.store.encoder.name, backend)
        if weights_of(model.version) != weights_of(self.store.encoder.version):
            raise ConfigError(f"the encoder {self.store.encoder.name} no longer has the weights this collection was "
                              "embedded with; re-index it into a new collection.")
        with self._pool(model, processes) as pool:
            embedded, _, _ = reembed(self.store, pool, progress)
        self._encoder = model
        return embedded

    def adapt(self, config: AdaptConfig = AdaptConfig(), progress: AdaptProgress | None = None,
              queries: Sequence[str] | None = None) -> AdaptReport:
        """Adapt the encoder to this collection without labels, re-embed every chunk with it and switch to it;
        see :mod:`selfsim.tasks.adapt`. The default ``teacher`` objective distils the collection's hybrid search
        over ``queries`` (a query log) or pseudo-queries made from the items, and switches only if the adapted
        model beats the base on a label-free validation (``report.accepted``); ``crops``, ``simcse``,
        ``denoise`` and mined ``triplet`` train a self-supervised objective on the texts."""
        report, new_encoder = adapt_collection(self.store, self.encoder, config, progress, queries=queries)
        self._encoder = new_encoder
        return report

    # -- recommendations (interactions, the sequence recommender) --------------------------------

    @property
    def interactions(self) -> InteractionStore:
        """The collection's interaction events and stored user vectors."""
        return self.store.interactions

    def import_interactions(self, paths: Sequence[str | Path],
                            config: recommend_task.InteractionReadConfig = recommend_task.InteractionReadConfig()
                            ) -> InteractionImportReport:
        """Store the events of CSV/JSONL/Parquet event files or ``user item item ...`` sequence files."""
        return recommend_task.import_interactions(self.store, [Path(p) for p in paths], config)

    @staticmethod
    def check_interaction_files(paths: Sequence[str | Path],
                                config: recommend_task.InteractionReadConfig = recommend_task.InteractionReadConfig()
                                ) -> None:
        """Raise what would stop :meth:`import_interactions` reading any of ``paths`` at all, before anything
        is created."""
        recommend_task.check_interaction_files([Path(p) for p in paths], config)

    def train_recommender(self, config: RecommendConfig = RecommendConfig(), progress: Any = None,
                          resume: bool = False) -> recommend_task.Recommender:
        """Train the sequence recommender on the interactions (item text joins when items are text items)."""
        return recommend_task.train_recommender(self.store, config, progress, resume)[0]

    def recommend(self, user: str | None = None, history: Sequence[str] | None = None, k: int = 10,
                  exclude_seen: bool = True) -> list[Recommendation]:
        """The next ``k`` items for a known ``user`` or an anonymous ``history`` (item ids, oldest first)."""
        recommender = recommend_task.load_recommender(self.store)
        return recommend_task.recommend_for(self.store, recommender, user, history, k, exclude_seen)

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        """The ``k`` items the recommender places closest to ``item``."""
        return recommend_task.load_recommender(self.store).similar_items(item, k)

    def recommender_notes(self) -> dict[str, Any] | None:
        """The training notes of the collection's recommender (data, validation, timing); None before one is
        trained."""
        directory = recommend_task.model_directory(self.store)
        if not (directory / "config.json").is_file():
            return None
        return recommend_task.Recommender.load(directory).notes

    def user_segments(self, k: int = 8, seed: int = 0) -> dict[str, int]:
        """Users grouped into ``k`` segments by k-means over their stored vectors."""
        return recommend_task.user_segments(self.store, k, seed)

    # -- explanations (Shapley values; see selfsim.tasks.explain) -----------------------------------

    def explain_search(self, query: str, item_id: str, config: MatchConfig = MatchConfig()) -> Explanation:
        """How each word of ``query`` and each sentence of the item's best passage made their dense similarity."""
        return explain_task.explain_search(self.store, self.encoder, query, item_id, config)

    def explain_duplicates(self, id_a: str, id_b: str, config: MatchConfig = MatchConfig(),
                           scorer: str | Path | None = None) -> Explanation:
        """How each sentence of two items made their cosine similarity (``scorer``: a saved fused pair scorer
        whose feature contributions join the notes)."""
        return explain_task.explain_duplicates(self.store, self.encoder, id_a, id_b, config, scorer)

    def explain_classify(self, item_id: str, task: str, label: str | None = None,
                         config: ClassifyExplainConfig = ClassifyExplainConfig()) -> Explanation:
        """How each sentence or word of the item moved the ``task`` classifier toward ``label`` (default: its
        prediction)."""
        return explain_task.explain_classify(self.store, lambda: self.encoder, task, item_id, label, config)

    def explain_recommend(self, item_id: str, user: str | None = None, history: Sequence[str] | None = None,
                          config: ShapleyConfig = ShapleyConfig()) -> Explanation:
        """How each item of a known ``user``'s history (or an anonymous ``history``) drove the score of ``item_id``."""
        return explain_task.explain_recommend(self.store, item_id, user, None if history is None else list(history),
                                              config)

    def explain_topic(self, topic: int | str, field: str = "cluster", keywords: int = 10,
                      items: int = 5) -> TopicExplanation:
        """The words (c-TF-IDF weights) and the items nearest the centre that define a topic written by
        :meth:`topics` with ``write`` (the value ``topic`` of metadata ``field``)."""
        return explain_task.explain_topic(self.store, topic, field, keywords, items)

    def info(self) -> dict[str, Any]:
        """A summary: path, counts, encoder, index spec, generation and whether the vector index
        agrees with the store (one vector per chunk: no ghosts, none missing, none twice). ``index_tombstones``
        counts deleted vectors an HNSW index still stores (never returned; rebuilt away past 20%); ``index_details``
        gives a VQ index's bytes per vector and codebook usage."""
        _, name, version, dim = self.store.encoder
        config = self.store.config
        agreement = self.store.agreement()
        return {"path": str(self.store.directory), "items": len(self), "chunks": agreement.chunks,
                "encoder": name, "encoder_version": version, "backend": backend_of(version), "dim": dim,
                "index": config.index,
                "index_in_use": self.store.index.built_spec, "index_search_defaults": self.store.index.knobs,
                "index_tombstones": self.store.index.deleted, "index_details": self.store.index.details,
                "generation": agreement.generation,
                "index_vectors": agreement.vectors, "index_ghosts": agreement.ghosts,
                "index_missing": agreement.missing, "index_duplicates": agreement.duplicates,
                "index_agrees": agreement.agrees, "chunking": config.to_dict()["chunking"]}

    def check(self, repair: bool = False) -> CheckReport:
        """Verify SQLite's integrity and that the vector index agrees with the store; with ``repair``
        an index that disagrees is rebuilt from the stored vectors and saved."""
        return self.store.check(repair)


def _as_record(record: RecordLike) -> Record:
    """A :class:`Record` from what a Python caller gave, under the id rule of :mod:`selfsim.data.records`.

    Ids become strings (``1`` and ``"1"`` are one id); metadata is made JSON-safe as in files
    (NaN and infinities become null, numpy numbers plain numbers).
    """
    if isinstance(record, Record):
        item_id, text, metadata = record.id, record.text, dict(record.metadata)
    elif isinstance(record, Mapping):
        if "id" not in record:
            raise InputError("an item has no 'id'; give each item an id (it is how upsert and delete find it).")
        item_id, text = record["id"], record.get("text")
        metadata = dict(record.get("metadata") or {})
        metadata.update({k: v for k, v in record.items() if k not in ("id", "text", "metadata")})
    else:
        raise InputError(f"an item must be a Record or a mapping with 'id' and 'text', not {type(record).__name__}.")
    item_id = check_id(item_id)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"the item {item_id!r} has no text; give each item a non-empty 'text' string.")
    problem = value_problem([text, metadata])
    if problem is not None:
        raise InputError(f"the item {item_id!r} {problem}; fix its text or metadata.")
    metadata = {str(k): as_json(v) for k, v in metadata.items()}
    if isinstance(record, Record) and (item_id, metadata) == (record.id, record.metadata):
        return record
    return Record(item_id, text, metadata)


class _CreatedPaths:
    """What making a collection at ``path`` adds to the file system, so that it can be taken away again.

    The highest folder that did not exist yet goes whole; in a folder that existed (an empty one
    given as the collection, say) only the entries that were not there before go.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.top: Path | None = None
        for folder in (path, *path.parents):
            if folder.exists():
                break
            self.top = folder
        self.before = set(os.listdir(path)) if self.top is None and path.is_dir() else set()

    def remove(self) -> None:
        """Delete what was created (nothing the user had before)."""
        if self.top is not None:
            shutil.rmtree(self.top, ignore_errors=True)
            return
        for name in set(os.listdir(self.path)) - self.before:
            entry = self.path / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
