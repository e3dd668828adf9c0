"""Learning curves: values logged against the step, saved as JSON and as a PNG.

Names that contain ``loss`` go in the left panel, everything else (validation
metrics, learning rate excluded) in the right one, so a falling loss and a
rising metric are both readable on their own scales.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

from selfsim.errors import NotFoundError


class LearningCurve:
    """Series of ``(step, value)`` points by name, e.g. ``train_loss`` and ``val_ndcg@10``."""

    def __init__(self) -> None:
        self.points: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def log(self, step: int, **values: float) -> None:
        """Appends one point to each named series."""
        for name, value in values.items():
            self.points[name].append((int(step), float(value)))

    def series(self, name: str) -> list[tuple[int, float]]:
        """The points of one series, in the order they were logged."""
        return list(self.points.get(name, []))

    def to_dict(self) -> dict[str, list[list[float]]]:
        """JSON-able form: ``{name: [[step, value], ...]}``."""
        return {name: [[step, value] for step, value in points] for name, points in self.points.items()}

    @classmethod
    def from_dict(cls, data: dict[str, list[list[float]]]) -> LearningCurve:
        """Inverse of :meth:`to_dict`."""
        curve = cls()
        for name, points in data.items():
            curve.points[name] = [(int(step), float(value)) for step, value in points]
        return curve

    @classmethod
    def load(cls, path: str | Path) -> LearningCurve:
        """Reads a ``curve.json`` (or the directory holding one)."""
        path = Path(path)
        path = path / "curve.json" if path.is_dir() else path
        if not path.exists():
            raise NotFoundError(f"No learning curve at {path}; train a model first.")
        return cls.from_dict(json.loads(path.read_text()))

    def save(self, directory: str | Path, title: str = "") -> tuple[Path, Path]:
        """Writes ``curve.json`` and ``curve.png`` into ``directory``; returns both paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path, png_path = directory / "curve.json", directory / "curve.png"
        temporary = json_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(temporary, json_path)
        self._plot(png_path, title)
        return json_path, png_path

    def _plot(self, path: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        losses = [name for name in self.points if "loss" in name]
        metrics = [name for name in self.points if "loss" not in name and name not in ("lr", "learning_rate")]
        panels = [group for group in (losses, metrics) if group] or [[]]
        figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
        for axis, names in zip(axes[0], panels, strict=True):
            for name in names:
                steps, values = zip(*self.points[name], strict=True) if self.points[name] else ((), ())
                axis.plot(steps, values, label=name, marker="." if len(steps) < 50 else None)
            axis.set_xlabel("step")
            if names:
                axis.legend()
            axis.grid(alpha=0.3)
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
