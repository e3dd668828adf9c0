"""What every explainer answers: features with their Shapley values, the scores they add up to, and how."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Feature:
    """One player of the game: a span of a text (or one history item) and what it contributed.

    ``side`` says which text the span belongs to (``"query"``, ``"item"``, ``"first"``,
    ``"second"``, ``"text"``, ``"history"``); ``start``/``end`` index that text (-1 when the
    feature is not a span, such as a history item). ``occlusion`` is the leave-one-out
    attribution ``v(all) - v(all without it)``, the cheap baseline beside the Shapley value.
    """

    side: str
    text: str
    start: int
    end: int
    value: float
    standard_error: float | None
    occlusion: float


@dataclass(frozen=True)
class Explanation:
    """Shapley values of ``features`` for one score (``target`` says which).

    The values add up to ``full - empty`` (efficiency): ``full`` is the score with every
    feature present, ``empty`` with none. Sampled values (``exact`` False) carry standard
    errors from ``permutations`` random permutations; ``notes`` say what was capped or merged.
    """

    kind: str
    target: str
    features: list[Feature]
    full: float
    empty: float
    exact: bool
    permutations: int
    coalitions: int
    seconds: float
    texts: dict[str, str] = field(default_factory=dict)  # side -> the text its spans index
    notes: list[str] = field(default_factory=list)

    @property
    def efficiency_gap(self) -> float:
        """``sum(values) - (full - empty)``: zero up to rounding, checked and printed."""
        return sum(f.value for f in self.features) - (self.full - self.empty)

    def ranked(self) -> list[Feature]:
        """Features from the most positive contribution to the most negative."""
        return sorted(self.features, key=lambda f: -f.value)

    @property
    def occlusion_agrees(self) -> bool:
        """Whether Shapley values and leave-one-out occlusion name the same top feature."""
        if not self.features:
            return True
        top = max(range(len(self.features)), key=lambda i: self.features[i].value)
        return top == max(range(len(self.features)), key=lambda i: self.features[i].occlusion)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the efficiency check."""
        data = asdict(self)
        data["efficiency_gap"] = self.efficiency_gap
        data["occlusion_agrees"] = self.occlusion_agrees
        return data
