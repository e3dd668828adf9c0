"""Adapt a collection's encoder to its own texts, with no labels, then re-embed the collection.

``adapt`` with the ``teacher`` objective (the default) distils the collection's own hybrid search into its
dense encoder, from a query log or from pseudo-queries made from the items (:mod:`selfsim.tasks.adapt_queries`),
tries averages of the adapted and the base weights, and keeps the base unless one of them beats it on a
label-free validation (held-out queries judged by the teacher). Otherwise ``adapt`` trains the collection's
encoder with a self-supervised objective (``crops``, ``simcse`` or ``denoise``) on the collection's own texts — or with
``triplet`` on triplets mined from the collection (:func:`mine_triplets`) —
saves the model under ``COLLECTION/models/``, writes every chunk's vector
from the new model next to the old ones, and only then switches the
collection to the new encoder in one transaction (a new store generation)
and rebuilds the index. Until the switch, search answers from the old
vectors; a crash while re-embedding leaves the collection as it was, and
running ``adapt`` again with the same model continues where it stopped.
"""

from __future__ import annotations

import datetime
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.config import SearchConfig
from selfsim.data.pair_files import Example
from selfsim.encoders.base import Encoder, ProgressCallback, backend_of
from selfsim.errors import ConfigError, ConflictError
from selfsim.store.collection import Store
from selfsim.tasks.adapt_queries import (
    MIN_CLOZE,
    Candidate,
    LabelFreeValidation,
    TeacherConfig,
    TeacherHit,
    Verdict,
    choose,
    mine_examples,
    split_queries,
)
from selfsim.tasks.pseudo_queries import cloze_queries, corpus_pseudo_queries
from selfsim.tasks.search.collection import Hit, search
from selfsim.training.schedules import OptimizerConfig
from selfsim.training.soup import average_models
from selfsim.training.text import TextTrainConfig, TrainReport, train_text_encoder

ADAPT_OBJECTIVES = ("teacher", "crops", "simcse", "denoise", "triplet")
MODELS_DIR = "models"
Progress = Callable[[str, int, int | None], None]  # (phase, done, total)


@dataclass(frozen=True)
class AdaptConfig:
    """An adaptation run. The defaults are short and gentle (one epoch at a low learning rate), so the
    model learns the domain without forgetting what it knew; ``max_texts`` samples the collection.
    ``label_task`` (triplet only) adds items sharing a human label in that label set as positives.
    ``teacher`` (teacher only) says how the hybrid search teaches and how the result is validated."""

    objective: str = "teacher"
    options: dict[str, Any] = field(default_factory=dict)
    epochs: float = 1.0
    max_steps: int | None = None
    max_texts: int | None = None
    batch_size: int = 32
    max_length: int = 128
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    seed: int = 0
    threads: int | None = None
    drop_old: bool = True
    label_task: str | None = None  # with objective="triplet": also same-label items as positives
    teacher: TeacherConfig = field(default_factory=TeacherConfig)

    def __post_init__(self) -> None:
        if self.objective not in ADAPT_OBJECTIVES:
            raise ConfigError(f"adapt learns without labels with {', '.join(ADAPT_OBJECTIVES)}; "
                              f"{self.objective!r} needs a training file (use selfsim train).")


@dataclass(frozen=True)
class AdaptReport:
    """The new model, how training went, and the re-embedding; with the teacher, the label-free validation
    (``validation``) and whether the new model was kept (``accepted``; if not, ``model_dir`` is the model
    the collection still uses and nothing was re-embedded)."""

    model_dir: Path
    training: TrainReport
    texts: int
    chunks_embedded: int
    embed_seconds: float
    generation: int
    total_seconds: float
    validation: Verdict | None = None

    @property
    def accepted(self) -> bool:
        """Whether the collection switched to a new model."""
        return self.validation is None or self.validation.accepted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model_dir": str(self.model_dir), "training": self.training.to_dict(), "texts": self.texts,
                "chunks_embedded": self.chunks_embedded, "embed_seconds": round(self.embed_seconds, 1),
                "generation": self.generation, "total_seconds": round(self.total_seconds, 1),
                "accepted": self.accepted, "validation": self.validation.to_dict() if self.validation else None}


def collection_texts(store: Store, max_texts: int | None = None, seed: int = 0) -> list[Example]:
    """The items' texts (a seeded sample of ``max_texts`` of them if given) as training rows."""
    texts = [Example((item.text,)) for item in store.iterate() if item.text.strip()]
    if max_texts is not None and len(texts) > max_texts:
        picked = np.random.default_rng(seed).choice(len(texts), size=max_texts, replace=False)
        texts = [texts[i] for i in sorted(picked.tolist())]
    return texts


def mine_triplets(store: Store, encoder: Encoder, max_triplets: int = 5000, seed: int = 0,
                  label_task: str | None = None) -> list[Example]:
    """Triplets from the collection: ``(anchor, positive, hard negative)``.

    The positive is a neighbouring chunk of the same item or, with
    ``label_task``, another item with the same human label; the negative is
    the nearest chunk in the index whose item is not a known positive.
    """
    rng = np.random.default_rng(seed)
    items = {item.key: item for item in store.iterate()}
    positives: list[tuple[int, str, str, set[int]]] = []  # (anchor item key, anchor, positive, positive keys)
    for key, chunks in store.chunks_of(list(items)).items():
        text = items[key].text
        for (_, _, s1, e1), (_, _, s2, e2) in zip(chunks, chunks[1:], strict=False):
            positives.append((key, text[s1:e1], text[s2:e2], {key}))
    if label_task is not None:
        positives += _label_positives(store, items, label_task, rng)
    if not positives:
        raise ConfigError("no positives to mine triplets from: no item has two chunks and no labels were "
                          "given; use crops or simcse to adapt this collection.")
    if len(positives) > max_triplets:
        picked = rng.choice(len(positives), size=max_triplets, replace=False)
        positives = [positives[i] for i in sorted(picked.tolist())]
    anchors = encoder.encode([p[1] for p in positives])
    triplets = []
    for (key, anchor, positive, known), vector in zip(positives, anchors, strict=True):
        for other, _, chunk_id in store.nearest_items(vector, k=10):
            if other not in known and other != key:
                span = store.chunk_items([chunk_id])[chunk_id]
                triplets.append(Example((anchor, positive, items[other].text[span.start:span.end])))
                break
    return triplets


def _label_positives(store: Store, items: dict[int, Any], task: str,
                     rng: np.random.Generator) -> list[tuple[int, str, str, set[int]]]:
    by_id = {item.id: key for key, item in items.items()}
    groups: dict[Any, list[int]] = {}
    for label in store.labels.get(task, sources=["human"]):
        key = by_id.get(label.item_id)
        if key is not None:
            groups.setdefault(label.label, []).append(key)
    found = []
    for keys in groups.values():
        for key in keys:
            others = [k for k in keys if k != key]
            if others:
                other = others[int(rng.integers(len(others)))]
                found.append((key, items[key].text, items[other].text, set(keys)))
    return found


def adapt_collection(store: Store, encoder: Encoder, config: AdaptConfig = AdaptConfig(),
                     progress: Progress | None = None, output_dir: Path | None = None,
                     load: Callable[[str], Encoder] | None = None,
                     queries: Sequence[str] | None = None) -> tuple[AdaptReport, Encoder]:
    """Train on the collection, re-embed it with the new model and switch to it; returns the report and
    the encoder the collection now uses. ``load`` builds an encoder from a model directory (default: the
    registry, with the backend of ``encoder``, so an int8 collection stays int8). ``queries`` (a query log,
    teacher objective only) replaces the pseudo-queries made from the collection."""
    from selfsim.registry import load_encoder

    started = time.perf_counter()
    load = load or (lambda path: load_encoder(path, backend_of(encoder.version)))
    base = getattr(encoder, "model_dir", None)
    if base is None:
        raise ConfigError(f"the encoder {encoder.name} cannot be trained; adapt needs a transformer encoder.")
    if queries is not None and config.objective != "teacher":
        raise ConfigError(f"a query log teaches through the hybrid search: use --objective teacher with --queries, "
                          f"not {config.objective}.")
    if config.objective == "teacher":
        return adapt_with_teacher(store, encoder, Path(base), config, progress, output_dir, load, queries, started)
    if config.objective == "triplet":
        data = mine_triplets(store, encoder, seed=config.seed, label_task=config.label_task)
        kind = "triplets"
    else:
        data = collection_texts(store, config.max_texts, config.seed)
        kind = "texts"
    if len(data) < 2:
        raise ConfigError("the collection holds too few texts to adapt to; add more items first.")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = output_dir or store.directory / MODELS_DIR / f"{config.objective}-{stamp}"
    train_config, step = _training(config, config.objective, len(data), progress)

    training = train_text_encoder(base, data, output_dir, train_config, data_kind=kind, resume=True,
                                  data_description=f"{len(data):,} {kind} from the collection {store.directory}",
                                  progress=step)
    new = load(str(Path(output_dir).resolve()))
    embedded, embed_seconds, generation = reembed(store, new, progress, drop_old=config.drop_old)
    report = AdaptReport(Path(output_dir), training, len(data), embedded, embed_seconds, generation,
                         time.perf_counter() - started)
    return report, new


def reembed(store: Store, encoder: Encoder, progress: Progress | None = None, batch: int = 512,
            drop_old: bool = True) -> tuple[int, float, int]:
    """Write every chunk's vector from ``encoder`` beside the current ones, then switch the collection to it.

    Returns ``(chunks embedded, seconds, new generation)``. Chunks added while this runs are
    embedded too before the switch.
    """
    started = time.perf_counter()
    if encoder.dim <= 0:
        raise ConfigError("the new encoder reports no dimension; it cannot embed the collection.")
    encoder_id = store.register_encoder(encoder.name, encoder.version, encoder.dim)
    if store.encoder.id == encoder_id:
        raise ConfigError("the collection already uses this encoder; there is nothing to re-embed.")
    total, embedded = store.count_chunks(), 0
    for _ in range(100):  # another writer may keep adding chunks; give up only if it never lets us finish
        while True:
            todo = store.chunks_without_embeddings(encoder_id, batch)
            if not todo:
                break
            vectors = encoder.encode([chunk.text for chunk in todo])
            store.put_embeddings(encoder_id, [chunk.chunk_id for chunk in todo], vectors)
            embedded += len(todo)
            if progress is not None:
                progress("embedding", embedded, total)
        try:
            generation = store.switch_encoder(encoder_id, drop_old=drop_old)
            return embedded, time.perf_counter() - started, generation
        except ConflictError:  # chunks written meanwhile have no new vector yet: embed them, try again
            continue
    raise ConflictError("the collection kept changing while it was re-embedded; run adapt again when writes pause.")


# -- the teacher: the collection's hybrid search distilled into its encoder, never worse ------------------


class _Precomputed:
    """An encoder answering from query vectors computed in one batch (search encodes one query at a time)."""

    def __init__(self, encoder: Encoder, texts: Sequence[str]) -> None:
        self.name, self.version, self.dim = encoder.name, encoder.version, encoder.dim
        self._vectors = dict(zip(texts, encoder.encode(list(texts)), strict=True))

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])


def teacher_rankings(store: Store, encoder: Encoder, queries: Sequence[str], depth: int,
                     config: SearchConfig = SearchConfig(),
                     progress: Callable[[int, int], None] | None = None) -> list[list[TeacherHit]]:
    """The hybrid search's top ``depth`` for each query, with each result's dense and keyword ranks."""
    cached = _Precomputed(encoder, list(queries))
    rankings = []
    for done, query in enumerate(queries, start=1):
        hits = search(store, cached, query, k=depth, mode="hybrid", config=config)  # type: ignore[arg-type]
        rankings.append([_teacher_hit(hit) for hit in hits])
        if progress is not None:
            progress(done, len(queries))
    return rankings


def _teacher_hit(hit: Hit) -> TeacherHit:
    dense, keyword = hit.signals.get("dense"), hit.signals.get("keyword")
    return TeacherHit(hit.id, hit.text, dense.rank if dense else None, keyword.rank if keyword else None,
                      keyword.score if keyword else None, dense.score if dense else None)


TEACHER_DEPTH = 100  # deep enough that every item the dense model ranks in its top 20 is in the teacher's list


def adapt_with_teacher(store: Store, encoder: Encoder, base_dir: Path, config: AdaptConfig,
                       progress: Progress | None, output_dir: Path | None, load: Callable[[str], Encoder],
                       queries: Sequence[str] | None, started: float) -> tuple[AdaptReport, Encoder]:
    """The ``teacher`` objective; returns the report and the encoder the collection uses afterwards.

    1. Queries: ``queries`` or pseudo-queries made from the items; a seeded share is held out.
    2. The teacher (the hybrid search with the collection's current encoder) ranks the collection for every
       query; training rows are ``(query, teacher's top result, the dense model's hard negative)`` and the
       held-out queries become the label-free validation.
    3. ``teacher.loss`` trains the encoder: ``pairs`` (in-batch + hard-negative contrastive) or ``margin_mse``
       (the student's margins regressed onto the teacher's); with more than one epoch the validation picks
       the best epoch.
    4. Averages of the adapted and the base weights (WiSE-FT, Wortsman et al. 2022) are scored beside the
       adapted model; the best is kept only if it beats the base. Only then is the collection re-embedded
       and switched (one new generation); otherwise nothing changes and the report says it rolled back.

    Candidates are scored with PyTorch (fp32) whatever the collection's backend; the accepted model is loaded
    with the collection's own backend to re-embed it."""
    from selfsim.registry import load_encoder

    teacher = config.teacher
    if queries is None:
        texts = corpus_pseudo_queries(((item.text, item.metadata) for item in store.iterate()),
                                      teacher.pseudo_queries, config.seed)
        source = f"{len(texts):,} pseudo-queries made from the collection"
    else:
        texts = list(dict.fromkeys(q.strip() for q in queries if q.strip()))
        source = f"a query log of {len(texts):,} distinct queries"
    cloze = []
    if teacher.validation == "cloze":  # every query trains; the held-out set is made from the items
        cloze = cloze_queries(((item.id, item.text) for item in store.iterate()), teacher.max_holdout, config.seed)
    judged_by = "cloze" if len(cloze) >= MIN_CLOZE else "teacher"
    if judged_by == "cloze":
        held_out = [query for _, query, _ in cloze]
        training_queries = [query for query in texts if query not in set(held_out)]
    else:
        training_queries, held_out = split_queries(texts, teacher.holdout, teacher.max_holdout, config.seed)
    if queries is not None and teacher.log_pseudo_queries > 0:
        known = set(texts)
        extra = corpus_pseudo_queries(((item.text, item.metadata) for item in store.iterate()),
                                      teacher.log_pseudo_queries, config.seed)
        training_queries += [q for q in extra if q not in known]
        source += f" and {teacher.log_pseudo_queries:,} pseudo-queries made from the collection"
    everything = training_queries + held_out
    rankings = teacher_rankings(store, encoder, everything, max(TEACHER_DEPTH, teacher.pool_depth), teacher.search,
                                progress=(lambda done, total: progress("teacher", done, total)) if progress else None)
    rows = mine_examples(training_queries, rankings[:len(training_queries)], teacher)
    if len(rows) < 2:
        raise ConfigError("the teacher found too few results to learn from; add more items or more queries.")
    if judged_by == "cloze":
        validation = LabelFreeValidation.from_cloze(cloze, rankings[len(training_queries):], teacher)
    else:
        validation = LabelFreeValidation(held_out, rankings[len(training_queries):], teacher)
    base_figures = validation.score(load_encoder(str(base_dir), "torch").encode)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = Path(output_dir or store.directory / MODELS_DIR / f"teacher-{stamp}")
    train_config, step = _training(config, teacher.loss, len(rows), progress)

    kind = "triplets" if len(rows[0].texts) == 3 else "pairs"
    if teacher.loss == "margin_mse":
        kind = "margined triplets"  # labelled with the teacher's margins (what plain triplet files lack)
    training = train_text_encoder(base_dir, rows, output_dir, train_config, data_kind=kind, resume=True,
                                  validator=validation.score, progress=step,
                                  data_description=f"{len(rows):,} {kind} the collection's hybrid search mined "
                                                   f"from {source} ({store.directory})")
    candidates = []
    for number, mix in enumerate(teacher.mixes, start=1):
        if progress is not None:
            progress("validating", number, len(teacher.mixes))
        if mix == 1.0 and training.best_metrics:
            candidates.append(Candidate(1.0, str(output_dir), dict(training.best_metrics)))
            continue
        soup = output_dir.parent / f"{output_dir.name}-mix{round(mix * 100):03d}"
        shutil.rmtree(soup, ignore_errors=True)  # a rerun after a crash starts this average afresh
        average_models([output_dir, base_dir], soup, weights=[mix, 1.0 - mix])
        candidates.append(Candidate(mix, str(soup), validation.score(load_encoder(str(soup), "torch").encode)))
    chosen = choose(base_figures, candidates, teacher.min_gain)
    verdict = Verdict(base_figures, candidates, chosen, validation.config.select_on, len(validation),
                      len(training_queries), len(rows), source, judged_by)
    for candidate in candidates:  # keep the trained model and the chosen average, not the others
        if candidate.model_dir != str(output_dir) and (chosen is None or candidate.model_dir != chosen.model_dir):
            shutil.rmtree(candidate.model_dir, ignore_errors=True)
    if chosen is None:
        report = AdaptReport(Path(str(encoder.name)), training, len(rows), 0, 0.0, store.generation,
                             time.perf_counter() - started, verdict)
        return report, encoder
    new = load(str(Path(chosen.model_dir).resolve()))
    embedded, embed_seconds, generation = reembed(store, new, progress, drop_old=config.drop_old)
    report = AdaptReport(Path(chosen.model_dir), training, len(rows), embedded, embed_seconds, generation,
                         time.perf_counter() - started, verdict)
    return report, new


def _training(config: AdaptConfig, objective: str, rows: int,
              progress: Progress | None) -> tuple[TextTrainConfig, Callable[[int], None]]:
    """The training settings of an adapt run, and a step callback reporting ``("training", done, total)``."""
    train_config = TextTrainConfig(
        objective=objective, options=dict(config.options), epochs=config.epochs, max_steps=config.max_steps,
        batch_size=config.batch_size, max_length=config.max_length, eval_at_start=False, seed=config.seed,
        threads=config.threads, optimizer=OptimizerConfig(learning_rate=config.learning_rate,
                                                          warmup_ratio=config.warmup_ratio))
    total = train_config.total_steps(rows)
    done = [0]

    def step(_: int) -> None:
        done[0] += 1
        if progress is not None:
            progress("training", done[0], total)

    return train_config, step
