"""Fixtures for training tests: a tiny text encoder built from a config (see tiny_text.py), nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_text import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny sentence-transformers model directory (random weights; build once per session)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))
