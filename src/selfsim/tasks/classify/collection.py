"""Classify a collection's items from its labels: fit, predict, weak labels and suggestions, over the store.

These are the jobs behind ``selfsim classify``. Each reads a label set from
the collection (:class:`selfsim.store.labels.LabelStore`), works on the
collection's item vectors, and writes what it learned back as labels with
their source: ``pseudo`` for accepted self-training labels, ``weak`` for the
label model's, ``predicted`` for the classifier's predictions (with calibrated
probabilities). A trained classifier is a directory under the collection,
``classifiers/<task>/`` (``config.json`` + ``weights.safetensors``, and the
fine-tuned encoder in ``encoder/`` when there is one).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from selfsim.encoders.base import Encoder
from selfsim.errors import NotFoundError
from selfsim.store.collection import Store
from selfsim.store.labels import Label
from selfsim.tasks.classify.active import SuggestConfig, margins, suggest
from selfsim.tasks.classify.estimator import FewLabelClassifier, FewLabelConfig
from selfsim.tasks.classify.label_model import ABSTAIN, DawidSkene, MajorityVote
from selfsim.tasks.classify.probe import HeldOutAccuracy, LinearProbe, ProbeConfig, TrainingDataError, held_out_accuracy
from selfsim.tasks.classify.self_training import RoundReport
from selfsim.tasks.classify.weak import FunctionReport, Labelled, LabellingFunction, WeakLabeller, analyse
from selfsim.training.setfit import ContrastiveFinetuneConfig, finetune_encoder, finetune_rows

CLASSIFIERS_DIR = "classifiers"


@dataclass(frozen=True)
class ClassifyConfig(FewLabelConfig):
    """How ``fit`` trains: the few-label classifier's settings (the head, ``semi``-supervision over the
    collection's unlabelled items, the held-out measurement), plus which label ``sources`` it learns from (human
    labels, and the weak labels ``weak_label`` stored, so ``combine`` is not used here) and an optional
    contrastive fine-tune of the encoder first."""

    sources: tuple[str, ...] = ("human", "weak")
    finetune: bool = False
    contrastive: ContrastiveFinetuneConfig = ContrastiveFinetuneConfig()


@dataclass
class FitReport:
    """What ``fit`` did, and how well the head does on labels it did not see (``held_out``, next to chance);
    ``warning`` is set when that is not clearly above chance."""

    task: str
    classes: list[str]
    labelled: int
    unlabelled: int
    predicted: int
    pseudo_labels: int
    rounds: list[RoundReport] = field(default_factory=list)
    best_round: int = 0
    finetune_steps: int = 0
    finetune_labels: int = 0
    classifier_dir: str = ""
    seconds: float = 0.0
    held_out: HeldOutAccuracy = field(default_factory=HeldOutAccuracy)
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        document = dict(self.__dict__)
        document["rounds"] = [r.to_dict() for r in self.rounds]
        document["held_out"] = self.held_out.to_dict()
        return document


def classifier_dir(store: Store, task: str) -> Path:
    """Where the classifier of ``task`` is saved."""
    return store.directory / CLASSIFIERS_DIR / task


def fit(store: Store, encoder: Encoder | None, task: str, config: ClassifyConfig = ClassifyConfig(),
        progress: Any = None) -> FitReport:
    """Train the classifier of ``task`` on its labels and write predictions for every item back.

    The labels (human ones trusted, weak ones weighted by their confidence),
    the collection's other items as unlabelled and ``config`` go to one
    :class:`FewLabelClassifier`. ``encoder`` is needed only for the contrastive
    fine-tune (it must be a sentence-transformers model); everything else uses
    the stored vectors.
    """
    started = time.perf_counter()
    labels_store = store.labels
    labelled = labels_store.get(task, list(config.sources))
    if not labelled:
        raise TrainingDataError(f"the label set {task!r} has no {' or '.join(config.sources)} labels; import some "
                                "with `selfsim labels import`.")
    ids, vectors = store.item_vectors()
    row_of = {item_id: row for row, item_id in enumerate(ids)}
    rows = np.asarray([row_of[label.item_id] for label in labelled])
    y = np.asarray([label.label for label in labelled])
    weight = np.asarray([label.confidence for label in labelled], dtype=np.float64)
    trusted = np.asarray([label.source == "human" for label in labelled])
    stored = vectors[rows]
    target = classifier_dir(store, task)
    finetune_steps = finetune_labels = 0
    if config.finetune:
        tune_on = finetune_rows(y, trusted)
        texts = [store.get(labelled[i].item_id).text for i in tune_on]  # type: ignore[union-attr]
        tuned, report = finetune_encoder(encoder, texts, y[tune_on], target / "encoder", config.contrastive,
                                         progress, name=f"{task}-finetuned",
                                         advice="open the collection with its model or leave --finetune out.")
        finetune_steps, finetune_labels = report.steps, len(tune_on)
        items = list(store.iterate())
        vectors = tuned.encode([item.text for item in items], batch_size=64)
        ids = [item.id for item in items]
        row_of = {item_id: row for row, item_id in enumerate(ids)}
        rows = np.asarray([row_of[label.item_id] for label in labelled])
    unlabelled_rows = np.setdiff1d(np.arange(len(ids)), rows)
    shutil.rmtree(target / "rounds", ignore_errors=True)  # rounds of an earlier fit are not this one's
    if not config.finetune:  # an earlier --finetune's encoder would otherwise feed this head vectors it never saw
        shutil.rmtree(target / "encoder", ignore_errors=True)
    # Judged on the stored vectors even with --finetune: the fine-tuned encoder has seen every label, so a
    # head on its vectors would be graded on what it learned from (and random labels would look learned).
    model = FewLabelClassifier(config, checkpoint_dir=target / "rounds").fit(
        vectors[rows], y, trusted=trusted, weights=weight, unlabelled=vectors[unlabelled_rows],
        held_out_vectors=stored)
    held_out = model.held_out_ or HeldOutAccuracy(note="held-out accuracy not measured (held_out is off).")
    if config.finetune and held_out.accuracy is not None:
        held_out = replace(held_out, note="measured on the stored vectors: the fine-tuned encoder saw every label")
    pseudo = [Label(ids[unlabelled_rows[r]], str(c), "pseudo", float(p)) for r, c, p in
              zip(model.pseudo_index_, model.pseudo_labels_, model.pseudo_confidence_, strict=True)]
    model.head_.save(target, extra={"task": task, "finetuned_encoder": config.finetune,
                                    "trained_on": {"labels": len(labelled), "pseudo": len(pseudo)},
                                    "held_out": held_out.to_dict()})
    probabilities = model.predict_proba(vectors)
    predictions = _prediction_labels(ids, model.classes_, probabilities)
    labels_store.put(task, predictions, replace_source=True)
    labels_store.delete(task, "pseudo")
    if pseudo:
        labels_store.put(task, pseudo, replace_source=True)
    return FitReport(task, [str(c) for c in model.classes_], len(labelled), len(unlabelled_rows), len(predictions),
                     len(pseudo), model.rounds_, model.best_round_, finetune_steps, finetune_labels, str(target),
                     time.perf_counter() - started, held_out, held_out.warning)


def load_classifier(store: Store, task: str) -> tuple[LinearProbe, Path | None]:
    """The saved classifier of ``task`` and its fine-tuned encoder directory (None when it has none)."""
    target = classifier_dir(store, task)
    if not (target / "config.json").is_file():
        raise NotFoundError(f"no classifier for the label set {task!r} in {store.directory}; run "
                            f"`selfsim classify fit {store.directory} --task {task}` first.")
    encoder_dir = target / "encoder"
    return LinearProbe.load(target), encoder_dir if (encoder_dir / "modules.json").is_file() else None


def predict_texts(store: Store, encoder: Encoder, task: str, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Classify new texts with the saved classifier: label, confidence and every class's probability."""
    model, encoder_dir = load_classifier(store, task)
    if encoder_dir is not None:
        from selfsim.encoders.sentence import SentenceEncoder

        encoder = SentenceEncoder(encoder_dir, name=f"{task}-finetuned")
    probabilities = model.predict_proba(encoder.encode(list(texts)))
    return [{"text": text, "label": str(model.classes_[row.argmax()]), "confidence": float(row.max()),
             "probabilities": {str(c): round(float(p), 5) for c, p in zip(model.classes_, row, strict=True)}}
            for text, row in zip(texts, probabilities, strict=True)]


@dataclass
class WeakReport:
    """What ``weak`` did: each function's analysis, how the label model and majority vote agree with any
    human labels, and how many weak labels were written."""

    task: str
    classes: list[str]
    functions: list[FunctionReport]
    covered: int
    items: int
    written: int
    label_model_accuracy: float | None
    majority_vote_accuracy: float | None
    gold_covered: int
    function_accuracy: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        document = dict(self.__dict__)
        document["functions"] = [f.to_dict() for f in self.functions]
        return document


def weak_label(store: Store, task: str, functions: Sequence[LabellingFunction], classes: Sequence[str],
               combine: Literal["label-model", "majority"] = "label-model", min_confidence: float = 0.0) -> WeakReport:
    """Apply ``functions`` to every item, analyse them, combine their votes and write ``weak`` labels.

    Items no function voted on get no weak label. Human labels of ``task`` (if
    any) are the gold the analysis and the accuracies are measured against.
    """
    if len(classes) < 2:
        raise TrainingDataError("weak supervision needs at least two classes; name them in the functions or "
                                "import a few labels.")
    labels_store = store.labels
    known_tasks = {info.task for info in labels_store.tasks()}
    human = labels_store.get(task, ["human"]) if task in known_tasks else []
    items = list(store.iterate())
    item_ids = [item.id for item in items]
    row_of = {item_id: row for row, item_id in enumerate(item_ids)}
    vectors = labelled = None
    if any(f.needs_vectors for f in functions):
        vector_ids, vectors = store.item_vectors()
        position = {item_id: row for row, item_id in enumerate(vector_ids)}
        vectors = vectors[[position[i] for i in item_ids]]
        labelled = Labelled([h.item_id for h in human], vectors[[row_of[h.item_id] for h in human]],
                            [h.label for h in human])
    labeller = WeakLabeller(functions, classes, combine).fit(item_ids, [item.text for item in items], vectors, labelled)
    votes, probabilities, covered = labeller.votes_, labeller.probabilities_, labeller.covered_
    class_index = {c: i for i, c in enumerate(classes)}
    gold = np.full(len(items), ABSTAIN)
    for h in human:
        if h.label in class_index:
            gold[row_of[h.item_id]] = class_index[h.label]
    reports = analyse(votes, [f.name for f in functions], gold)
    # Both combiners are measured against the human labels; the chosen one is the labeller's.
    label_model = labeller.model_ if combine == "label-model" else DawidSkene(len(classes)).fit(votes)
    majority = labeller.model_ if combine == "majority" else MajorityVote(len(classes)).fit(votes)
    judged = covered & (gold != ABSTAIN)
    accuracy = {name: (float(np.mean(model.predict(votes)[judged] == gold[judged])) if judged.any() else None)
                for name, model in (("label-model", label_model), ("majority", majority))}
    weak = [Label(item_ids[r], classes[int(probabilities[r].argmax())], "weak", float(probabilities[r].max()),
                  {c: round(float(p), 5) for c, p in zip(classes, probabilities[r], strict=True)})
            for r in np.flatnonzero(covered) if probabilities[r].max() >= min_confidence]
    labels_store.delete(task, "weak")
    if weak:
        labels_store.put(task, weak, replace_source=True)
    return WeakReport(task, list(classes), reports, int(covered.sum()), len(items), len(weak),
                      accuracy["label-model"], accuracy["majority"], int(judged.sum()),
                      {f.name: round(float(a), 4) for f, a in zip(functions, label_model.accuracy_, strict=True)})


def suggest_items(store: Store, task: str, n: int = 20,
                  config: SuggestConfig = SuggestConfig()) -> list[dict[str, Any]]:
    """The ``n`` unlabelled items a person should label next for ``task`` (least certain, spread out).

    Uses the saved classifier's predictions on the stored vectors; without a
    classifier yet, fits a probe on the human labels first.
    """
    labels_store = store.labels
    human = {label.item_id for label in labels_store.get(task, ["human"])}
    ids, vectors = store.item_vectors()
    model: LinearProbe | None = None
    if (classifier_dir(store, task) / "config.json").is_file():
        saved, encoder_dir = load_classifier(store, task)
        model = saved if encoder_dir is None else None  # a fine-tuned head expects fine-tuned vectors
    if model is None:  # no usable saved classifier: a probe on the human labels and the stored vectors
        rows = [i for i, item_id in enumerate(ids) if item_id in human]
        by_id = {label.item_id: label.label for label in labels_store.get(task, ["human"])}
        model = LinearProbe(ProbeConfig()).fit(vectors[rows], [by_id[ids[r]] for r in rows])
    open_rows = np.asarray([i for i, item_id in enumerate(ids) if item_id not in human], dtype=np.int64)
    if len(open_rows) == 0:
        return []
    probabilities = model.predict_proba(vectors[open_rows])
    picked = suggest(probabilities, vectors[open_rows], n, config)
    margin = margins(probabilities)
    result = []
    for r in picked:
        item = store.get(ids[open_rows[r]])
        assert item is not None
        result.append({"id": item.id, "text": item.text, "margin": round(float(margin[r]), 4),
                       "predicted": str(model.classes_[probabilities[r].argmax()]),
                       "probabilities": {str(c): round(float(p), 4)
                                         for c, p in zip(model.classes_, probabilities[r], strict=True)}})
    return result


def held_out_of(store: Store, task: str) -> HeldOutAccuracy:
    """How well ``task``'s classifier does on human labels it did not see, next to chance.

    As the last ``fit`` measured it; with no classifier yet (or one saved
    before fits measured it), measured now for a probe on the human labels and
    the stored vectors, as :func:`suggest_items` would fit.
    """
    config_file = classifier_dir(store, task) / "config.json"
    if config_file.is_file():
        recorded = json.loads(config_file.read_text()).get("held_out")
        if recorded is not None:
            return HeldOutAccuracy(**recorded)
    human = store.labels.get(task, ["human"])
    ids, vectors = store.item_vectors()
    row_of = {item_id: row for row, item_id in enumerate(ids)}
    return held_out_accuracy(vectors[[row_of[label.item_id] for label in human]], [label.label for label in human])


def _prediction_labels(ids: Sequence[str], classes: np.ndarray, probabilities: np.ndarray) -> list[Label]:
    return [Label(item_id, str(classes[row.argmax()]), "predicted", float(row.max()),
                  {str(c): round(float(p), 5) for c, p in zip(classes, row, strict=True)})
            for item_id, row in zip(ids, probabilities, strict=True)]


def rounds_table(directory: Path) -> list[dict[str, Any]]:
    """The round checkpoints a self-training fit wrote, in order."""
    return [json.loads(path.read_text())["report"] for path in sorted((directory / "rounds").glob("round-*.json"))]
