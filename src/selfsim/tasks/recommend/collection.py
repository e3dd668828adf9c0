"""Recommendations: train the sequence model on a collection's interactions, then serve it.

:class:`Recommender` is a trained :class:`~selfsim.encoders.sequence.SequenceModel`
with its catalogue (external item ids); it recommends the next items after a
history (a known user's, read from the store, or an anonymous session's), finds
similar items, and gives user vectors. :func:`train_recommender` reads the
collection's interactions, adds the text embeddings of items that are also text
items (content-aware items, so items nobody has touched can still be
recommended), trains with early stopping on the leave-one-out validation split,
blends in item-to-item co-occurrence where validation says it helps
(:mod:`selfsim.tasks.recommend.blend`), saves the model directory inside the
collection and stores every user's vector in SQLite so users can be grouped
into segments (:func:`user_segments`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsim.data.interactions import (
    Interaction,
    InteractionLog,
    InteractionReadConfig,
    check_interaction_file,
    leave_one_out,
    read_interactions,
)
from selfsim.encoders.sequence import SequenceConfig, SequenceModel
from selfsim.errors import ConfigError, InputError, NotFoundError, RecordError
from selfsim.store.collection import Store
from selfsim.tasks.recommend.baselines import CooccurrenceRecommender
from selfsim.tasks.recommend.blend import BlendConfig, blend, train_blended
from selfsim.tasks.topics.clusters import make_clusterer
from selfsim.training.ranking import ScoreFunction
from selfsim.training.sequence import SequenceTrainingConfig, SequenceTrainingResult, model_scores

MODEL_DIRECTORY = "recommender"
COOCCURRENCE_FILE = "cooccurrence.safetensors"
USER_VECTORS_MODEL = "recommender"


@dataclass(frozen=True)
class Recommendation:
    """One recommended item and its score (higher is better)."""

    item: str
    score: float


@dataclass(frozen=True)
class RecommendConfig:
    """The model's shape, how to train it, and whether item text joins the item embeddings."""

    max_length: int = 50
    dim: int = 64
    heads: int = 2
    blocks: int = 2
    dropout: float = 0.5
    use_text: bool = True
    id_dropout: float = 0.2  # with item text: share of items trained from their text alone each step (cold start)
    training: SequenceTrainingConfig = field(default_factory=SequenceTrainingConfig)
    blend: BlendConfig | None = field(default_factory=BlendConfig)  # None: the model alone, no co-occurrence


class Recommender:
    """A trained sequence model over a catalogue of external item ids.

    With ``cooccurrence`` and a ``blend_weight`` above 0, scores are the blended
    next-item probabilities of :func:`selfsim.tasks.recommend.blend.blend`.
    """

    def __init__(self, model: SequenceModel, items: Sequence[str], notes: dict[str, Any] | None = None,
                 cooccurrence: CooccurrenceRecommender | None = None, blend_weight: float = 0.0) -> None:
        self.model = model.eval()
        self.items = list(items)
        self.index = {item: i + 1 for i, item in enumerate(self.items)}
        self.notes = dict(notes or {})
        self.cooccurrence = cooccurrence
        self.blend_weight = blend_weight if cooccurrence is not None else 0.0

    # -- training and artifacts ----------------------------------------------------------------------

    @classmethod
    def fit(cls, log: InteractionLog, config: RecommendConfig = RecommendConfig(),
            text_vectors: np.ndarray | None = None, progress: Any = None,
            output_dir: str | Path | None = None, resume: bool = False,
            known_items: np.ndarray | None = None) -> tuple[Recommender, SequenceTrainingResult]:
        """Train on ``log`` (leave-one-out validation for early stopping).

        ``text_vectors`` (V + 1, d) make the model content-aware; ``known_items`` (V + 1,) marks the
        items with interactions, the others being recommendable by their text only.
        """
        split = leave_one_out(log)
        if not len(split.scored_users):
            raise ConfigError("no user has 3 or more interactions, so there is nothing to validate on; "
                              "import longer histories.")
        shape = SequenceConfig(n_items=log.n_items, max_length=config.max_length, dim=config.dim, heads=config.heads,
                               blocks=config.blocks, dropout=config.dropout, id_dropout=config.id_dropout)
        trained = train_blended(split, shape, config.training, config.blend, text_vectors, known_items, progress,
                                output_dir, resume)
        result, choice = trained.result, trained.choice
        notes: dict[str, Any] = {
            "best_epoch": result.best_epoch, "validation": result.best_validation, "epochs_run": result.epochs_run,
            "train_seconds": round(result.seconds, 1), "seconds_per_epoch": round(result.seconds_per_epoch, 2),
            "stopped_by": result.stopped_by, "objective": config.training.objective, "users": len(log.users),
            "interactions": log.n_interactions}
        cooccurrence, weight = None, 0.0
        if config.blend is not None and choice is not None:
            weight = choice.weight
            notes["blend"] = {"weight": weight, "validation_" + config.blend.metric: choice.rounded_validation()}
            if weight > 0:  # served from every history, the validation and last items included
                cooccurrence = CooccurrenceRecommender(log.n_items, **config.blend.table).fit(log.sequences)
        return cls(result.model, log.items, notes, cooccurrence, weight), result

    def save(self, directory: str | Path) -> Path:
        """Write the model directory: ``config.json`` (catalogue, notes, blend weight), ``model.safetensors``,
        and ``cooccurrence.safetensors`` when the scores are blended."""
        path = self.model.save(directory, {"items": self.items, "training": self.notes,
                                           "blend_weight": self.blend_weight})
        file = Path(directory) / COOCCURRENCE_FILE
        if self.cooccurrence is not None:
            self.cooccurrence.save(file)
        else:
            file.unlink(missing_ok=True)  # a blend from an earlier training must not come back on load
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """A recommender saved by :meth:`save`."""
        model, payload = SequenceModel.load(directory)
        file = Path(directory) / COOCCURRENCE_FILE
        cooccurrence = CooccurrenceRecommender.load(file) if file.is_file() else None
        return cls(model, payload.get("items", []), payload.get("training", {}), cooccurrence,
                   float(payload.get("blend_weight", 0.0)))

    # -- serving -------------------------------------------------------------------------------------

    def encode_history(self, history: Sequence[str]) -> np.ndarray:
        """Integer ids of a history; an empty history or an unknown item is an error."""
        if not history:
            raise ConfigError("the history is empty; give at least one item id (for example --history i1,i2).")
        unknown = [item for item in history if item not in self.index]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3
                                                               else "")
            raise NotFoundError(f"the recommender does not know the item ids {shown}; use ids from the "
                                "interactions it was trained on, or retrain after importing them.")
        return np.array([self.index[item] for item in history], dtype=np.int64)

    def user_vectors(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """The model's state after each history, (U, D)."""
        encoded = [self.encode_history(h) for h in histories]
        return self.model.user_vectors(encoded).numpy()

    def score_function(self, batch_size: int = 1024) -> ScoreFunction:
        """The served scores: integer-id histories -> every id's score (U, V + 1), blended when trained so.

        One definition for serving and for anything that must score exactly as serving does
        (explanations); an empty history is allowed and gives the model's no-history scores.
        """
        score = model_scores(self.model, batch_size)
        if self.cooccurrence is not None and self.blend_weight > 0:
            score = blend(score, self.cooccurrence, self.blend_weight)
        return score

    def recommend(self, history: Sequence[str], k: int = 10, exclude_seen: bool = True) -> list[Recommendation]:
        """The ``k`` best next items after ``history`` (oldest first), without items in it unless asked."""
        return self.recommend_many([history], k, exclude_seen)[0]

    def recommend_many(self, histories: Sequence[Sequence[str]], k: int = 10,
                       exclude_seen: bool = True) -> list[list[Recommendation]]:
        """:meth:`recommend` for several histories at once."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, not {k}.")
        encoded = [self.encode_history(h) for h in histories]
        scores = self.score_function()(encoded)  # (U, V + 1)
        out = []
        for row, history in zip(scores, encoded, strict=True):
            if exclude_seen:
                row[torch.from_numpy(history)] = float("-inf")
            top = torch.topk(row, min(k, len(self.items)))
            out.append([Recommendation(self.items[int(i) - 1], float(s))
                        for s, i in zip(top.values, top.indices, strict=True) if torch.isfinite(s)])
        return out

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        """The ``k`` items whose vectors are closest to ``item``'s by cosine."""
        index = self.encode_history([item])[0]
        with torch.no_grad():
            vectors = torch.nn.functional.normalize(self.model.item_vectors(), dim=-1)  # (V + 1, D)
            scores = vectors @ vectors[index]
        scores[0] = float("-inf")
        scores[index] = float("-inf")
        scores = scores.masked_fill(~self.model.item_known, float("-inf"))
        top = torch.topk(scores, min(k, len(self.items) - 1))
        return [Recommendation(self.items[int(i) - 1], float(s))
                for s, i in zip(top.values, top.indices, strict=True) if torch.isfinite(s)]


# -- the collection --------------------------------------------------------------------------------


@dataclass
class InteractionImportReport:
    """What an import did: events read, events new to the store, bad lines skipped (with why), time taken,
    and the files that held no events at all (``empty_files``)."""

    events: int = 0
    stored: int = 0
    skipped: list[InputError] = field(default_factory=list)
    seconds: float = 0.0
    empty_files: list[str] = field(default_factory=list)


def check_interaction_files(paths: Sequence[str | Path],
                            config: InteractionReadConfig = InteractionReadConfig()) -> None:
    """Raise what would stop any of ``paths`` being read at all (missing, a directory, unknown format, not
    gzip, a missing column), so an import can fail before it creates or writes anything."""
    for path in paths:
        check_interaction_file(path, config)


def import_interactions(store: Store, paths: Sequence[str | Path],
                        config: InteractionReadConfig = InteractionReadConfig(),
                        batch_size: int = 10_000) -> InteractionImportReport:
    """Store the events of ``paths`` in batches, one transaction each; the same error policy as text ingest.

    A bad line stops the import (``on_error="stop"``, after storing the good events before
    it; the error says how many) or is skipped and reported (``"skip"``).
    """
    check_interaction_files(paths, config)  # every file is checked before any is read, so a typo costs nothing
    interactions = store.interactions
    report = InteractionImportReport()
    started = time.perf_counter()
    batch: list[Interaction] = []
    for path in paths:
        results = 0
        for _, result in read_interactions(path, config):
            results += 1
            if isinstance(result, InputError):
                if config.on_error == "stop":
                    report.stored += interactions.put(batch)
                    report.events += len(batch)
                    raise RecordError(result.source, result.location, result.problem,
                                     f"{result.advice} ({report.events} events before it were stored)")
                report.skipped.append(result)
                continue
            batch.append(result)
            if len(batch) >= batch_size:
                report.stored += interactions.put(batch)
                report.events += len(batch)
                batch = []
        if results == 0:
            report.empty_files.append(str(path))
    if batch:
        report.stored += interactions.put(batch)
        report.events += len(batch)
    report.seconds = time.perf_counter() - started
    return report


def text_vectors_for(store: Store, items: Sequence[str]) -> np.ndarray | None:
    """Text embeddings of the catalogue (V + 1, d), zeros where an item is not a text item; None if none is."""
    ids, vectors = store.item_vectors()
    position = {item: i + 1 for i, item in enumerate(items)}
    rows = [(position[i], r) for r, i in enumerate(ids) if i in position]
    if not rows:
        return None
    out = np.zeros((len(items) + 1, vectors.shape[1]), dtype=np.float32)
    for target, source in rows:
        out[target] = vectors[source]
    return out


def store_item_ids(store: Store) -> list[str]:
    """Every text item id of the collection, in insertion order."""
    return [item.id for item in store.iterate()]


def model_directory(store: Store) -> Path:
    """Where a collection keeps its recommender."""
    return Path(store.directory) / MODEL_DIRECTORY


def train_recommender(store: Store, config: RecommendConfig = RecommendConfig(), progress: Any = None,
                      resume: bool = False) -> tuple[Recommender, SequenceTrainingResult]:
    """Train on the collection's interactions, save the model in the collection and store user vectors."""
    interactions = store.interactions
    log = interactions.log()
    known = None
    text = None
    if config.use_text:
        # Text items nobody has touched join the catalogue: the model scores them by their text alone.
        untouched = [item for item in store_item_ids(store) if log.item_index(item) is None]
        if untouched:
            known = np.zeros(log.n_items + len(untouched) + 1, dtype=bool)
            known[1: log.n_items + 1] = True
            log = InteractionLog(log.users, log.items + untouched, log.sequences)
        text = text_vectors_for(store, log.items)
        if text is None:
            known = None
            log = InteractionLog(log.users, log.items[: len(log.items) - len(untouched)], log.sequences)
    directory = model_directory(store)
    recommender, result = Recommender.fit(log, config, text, progress, directory / "training", resume, known)
    recommender.notes["content_aware"] = text is not None
    recommender.notes["text_only_items"] = 0 if known is None else int((~known[1:]).sum())
    recommender.save(directory)
    vectors = recommender.model.user_vectors(log.sequences).numpy()
    interactions.put_user_vectors(USER_VECTORS_MODEL, log.users, vectors)
    return recommender, result


def load_recommender(store: Store) -> Recommender:
    """The collection's trained recommender; an error that says how to train one when there is none."""
    directory = model_directory(store)
    if not (directory / "config.json").is_file():
        raise NotFoundError(f"{store.directory} has no trained recommender; train one with "
                            f"`selfsim interactions train {store.directory}` first.")
    return Recommender.load(directory)


def recommend_for(store: Store, recommender: Recommender, user: str | None = None,
                  history: Sequence[str] | None = None, k: int = 10,
                  exclude_seen: bool = True) -> list[Recommendation]:
    """Recommendations for a known ``user`` (history from the store) or an anonymous ``history``."""
    if (user is None) == (history is None):
        raise ConfigError("give either a user (--user U) or a history (--history i1,i2,...), not both or neither.")
    if user is not None:
        history = store.interactions.history(user)
        known = [item for item in history if item in recommender.index]
        if not known:
            raise NotFoundError(f"none of the items of user {user!r} are known to the recommender; retrain it "
                                "after importing their interactions.")
        history = known
    return recommender.recommend(list(history or []), k, exclude_seen)


def user_segments(store: Store, k: int = 8, seed: int = 0) -> dict[str, int]:
    """Group users into ``k`` segments by k-means over their stored vectors: ``{user: segment}``."""
    users, vectors = store.interactions.user_vectors(USER_VECTORS_MODEL)
    if not users:
        raise NotFoundError(f"{store.directory} has no user vectors; train the recommender first.")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    labels = make_clusterer("kmeans", k=min(k, len(users)), seed=seed).fit(unit.astype(np.float32)).labels_
    return {user: int(label) for user, label in zip(users, labels, strict=True)}
