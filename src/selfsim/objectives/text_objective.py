"""What every text-encoder objective shares, and the objectives by name.

An objective is a ``torch.nn.Module`` around a SentenceTransformer. Training
calls it in two steps:

1. :meth:`TextObjective.views` turns a batch of :class:`~selfsim.data.pair_files.Example`
   rows into columns of texts (for a pretext task this is where the noise,
   crops or dropout duplicates are made, from a per-step seeded generator);
2. :meth:`TextObjective.forward` takes one tokenised feature dict per column
   and the labels, encodes each column once and hands the embeddings to a pure
   loss function.

``accepts`` names the kinds of training data (see :mod:`selfsim.data.pair_files`)
the objective can learn from; anything else is refused in one sentence.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError

# name -> module under selfsim.objectives holding a class ``Objective``; imported only when used.
OBJECTIVES: dict[str, str] = {
    "simcse": "simcse", "denoise": "denoise", "crops": "crops", "triplet": "triplet",
    "cosine": "cosine", "cosent": "cosent", "contrastive": "contrastive", "pairs": "pairs",
    "margin_mse": "margin_mse",
}
SELF_SUPERVISED = ("simcse", "denoise", "crops")


class TextObjective(nn.Module):
    """Base class: holds the model, makes views, encodes columns."""

    name: ClassVar[str] = ""
    accepts: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[str] = ""  # the columns, said in words, for error messages

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def views(self, rows: Sequence[Example], rng: np.random.Generator) -> list[list[str]]:
        """Columns of texts for one batch; by default the rows' own texts, column by column."""
        width = len(rows[0].texts)
        return [[row.texts[i] for row in rows] for i in range(width)]

    def labels(self, rows: Sequence[Example]) -> torch.Tensor:
        """The batch's labels (zeros where the objective has none)."""
        return torch.tensor([0.0 if row.label is None else row.label for row in rows], dtype=torch.float32)

    def embed(self, features: Sequence[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        """One ``(B, D)`` embedding tensor per column."""
        return [self.model(f)["sentence_embedding"] for f in features]

    def forward(self, features: Sequence[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        """The loss of one batch."""
        raise NotImplementedError

    @classmethod
    def check_data(cls, kind: str, source: str = "the training data") -> None:
        """Refuse data of a kind this objective cannot learn from."""
        if kind not in cls.accepts:
            raise ConfigError(f"the {cls.name} objective needs {cls.needs}, but {source} holds {kind} rows; "
                              f"give it a file with those columns or pick an objective for {kind} data.")


def objective_class(name: str) -> type[TextObjective]:
    """The objective class called ``name``."""
    if name not in OBJECTIVES:
        raise ConfigError(f"no objective called {name!r}; use one of {', '.join(OBJECTIVES)}.")
    module = importlib.import_module(f"selfsim.objectives.{OBJECTIVES[name]}")
    return module.Objective


def build_objective(name: str, model: nn.Module, options: dict[str, Any] | None = None) -> TextObjective:
    """The objective ``name`` around ``model`` with its hyper-parameters ``options``."""
    cls = objective_class(name)
    try:
        return cls(model, **(options or {}))
    except TypeError as error:
        raise ConfigError(f"the {name} objective does not take these options ({error}); "
                          "see docs/training.md for each objective's settings.") from None
