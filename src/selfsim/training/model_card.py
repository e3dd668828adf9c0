"""The model card of a trained encoder: ``README.md`` for people, ``selfsim_training.json`` for programs.

It records what the model was trained from and how (base model, objective
and its settings, data, steps), what it scored (validation metrics before,
at best and at the end) and what it cost (time, examples per second), with
the library versions.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
from pathlib import Path
from typing import Any

from selfsim.version import __version__

CARD_FILE = "README.md"
CARD_JSON = "selfsim_training.json"


def write_model_card(model_dir: Path, *, base_model: str, config: Any, data_description: str,
                     n_examples: int, report: Any, extra: dict[str, Any] | None = None) -> Path:
    """Write ``README.md`` and ``selfsim_training.json`` into ``model_dir``; returns the README path."""
    import sentence_transformers
    import torch

    settings = _plain(dataclasses.asdict(config)) if dataclasses.is_dataclass(config) else dict(config)
    facts = {
        "base_model": base_model, "objective": settings.get("objective"), "settings": settings,
        "data": data_description, "examples": n_examples, "report": report.to_dict(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": {"selfsim": __version__, "sentence_transformers": sentence_transformers.__version__,
                     "torch": torch.__version__, "python": platform.python_version()},
        **(extra or {}),
    }
    (model_dir / CARD_JSON).write_text(json.dumps(facts, indent=2) + "\n")
    result = facts["report"]
    lines = [
        f"# selfsim text encoder ({facts['objective']})", "",
        f"Fine-tuned from `{base_model}` with the `{facts['objective']}` objective by selfsim {__version__}.", "",
        "| | |", "|---|---|",
        f"| data | {data_description or '-'} ({n_examples:,} examples) |",
        f"| steps | {result['steps']:,} ({result['examples_seen']:,} examples seen) |",
        f"| training time | {result['train_seconds']:.0f} s ({result['examples_per_second']:.1f} examples/s); "
        f"{result['total_seconds']:.0f} s with validation |",
        f"| validation before | {_metrics(result['initial_metrics'])} |",
        f"| validation, best (kept) | {_metrics(result['best_metrics'])} at step {result['best_step']} |",
        f"| validation, last | {_metrics(result['final_metrics'])} |",
        f"| loss first/last 10 steps | {result['first_loss']:.4f} / {result['last_loss']:.4f} |",
        f"| date | {facts['date']} |", "",
        "## Settings", "", "```json", json.dumps(settings, indent=2), "```", "",
        "Load it with `selfsim index COLLECTION FILE --encoder DIR` or `Collection.create(path, encoder=DIR)`. "
        "The learning curve is in `training/curve.png`.", "",
    ]
    path = model_dir / CARD_FILE
    path.write_text("\n".join(lines))
    return path


def _metrics(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in values.items()) if values else "-"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
