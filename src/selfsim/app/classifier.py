"""The classifier of one label set (a *task*) of a collection: fit, predict, weak labels, what to label next.

>>> with Collection.open("tickets") as tickets:                    # doctest: +SKIP
...     spam = tickets.classifier("spam")
...     spam.fit()
...     spam.predict(["win a free cruise"])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from selfsim.encoders.base import Encoder
from selfsim.store.collection import Store
from selfsim.tasks.classify import collection as classify_task
from selfsim.tasks.classify.active import SuggestConfig
from selfsim.tasks.classify.collection import ClassifyConfig, FitReport, WeakReport
from selfsim.tasks.classify.probe import HeldOutAccuracy
from selfsim.tasks.classify.weak import LabellingFunction


class Classifier:
    """One label set's classifier over a collection's stored vectors; get it from ``Collection.classifier``."""

    def __init__(self, store: Store, encoder: Callable[[], Encoder], task: str) -> None:
        self._store = store
        self._encoder = encoder
        self.task = task

    def fit(self, config: ClassifyConfig | None = None, progress: Any = None) -> FitReport:
        """Train on the task's human (and weak) labels (a linear head, grown by self-training or
        propagation when ``config.semi`` says so, after a contrastive fine-tune when ``config.finetune``),
        and write a prediction for every item back as ``predicted`` labels."""
        config = config or ClassifyConfig()
        return classify_task.fit(self._store, self._encoder() if config.finetune else None, self.task, config,
                                 progress)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """For each text: ``label``, ``confidence`` and every class's probability, by the saved classifier."""
        return classify_task.predict_texts(self._store, self._encoder(), self.task, texts)

    def suggest(self, n: int = 20, config: SuggestConfig = SuggestConfig()) -> list[dict[str, Any]]:
        """The ``n`` unlabelled items whose labels would teach this classifier the most (least certain,
        spread out), each with its text, margin and predicted label."""
        return classify_task.suggest_items(self._store, self.task, n, config)

    def held_out(self) -> HeldOutAccuracy:
        """How well this classifier does on human labels it did not see, next to chance (as the last ``fit``
        measured it; measured now for a probe on the human labels when there is none yet)."""
        return classify_task.held_out_of(self._store, self.task)

    def weak(self, functions: Sequence[LabellingFunction], classes: Sequence[str],
             combine: Literal["label-model", "majority"] = "label-model",
             min_confidence: float = 0.0) -> WeakReport:
        """Apply labelling functions to every item, combine their votes (a label model or a majority vote)
        and store the result as ``weak`` labels."""
        return classify_task.weak_label(self._store, self.task, functions, classes, combine, min_confidence)

    def rounds(self) -> list[dict[str, Any]]:
        """The self-training rounds of the last fit (empty when it did not self-train)."""
        return classify_task.rounds_table(classify_task.classifier_dir(self._store, self.task))
