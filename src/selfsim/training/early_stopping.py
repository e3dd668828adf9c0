"""Stop training when the validation metric has not improved for ``patience`` evaluations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from selfsim.errors import ConfigError


@dataclass
class EarlyStopping:
    """Tracks the best validation value and the step that reached it.

    ``update`` returns True when the value improves on the best by more than
    ``min_delta`` (upwards for ``mode="max"``, downwards for ``"min"``);
    ``should_stop`` turns True after ``patience`` updates in a row without one.
    """

    patience: int = 5
    mode: Literal["max", "min"] = "max"
    min_delta: float = 0.0
    best: float | None = None
    best_step: int | None = None
    bad_updates: int = 0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ConfigError(f"Early-stopping patience must be at least 1, not {self.patience}.")
        if self.mode not in ("max", "min"):
            raise ConfigError(f"Early-stopping mode must be 'max' or 'min', not {self.mode!r}.")

    def update(self, value: float, step: int) -> bool:
        """Records one evaluation; True when it is the new best."""
        sign = 1.0 if self.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.best_step, self.bad_updates = float(value), int(step), 0
            return True
        self.bad_updates += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` evaluations in a row brought no improvement."""
        return self.bad_updates >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """A JSON-able copy of the state, for checkpoints."""
        return {"best": self.best, "best_step": self.best_step, "bad_updates": self.bad_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.best, self.best_step = state["best"], state["best_step"]
        self.bad_updates = int(state["bad_updates"])
