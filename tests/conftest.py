"""Shared fixtures: the real default encoder (loaded once) and small real collections.

Everything here is offline and deterministic: the encoder is the bundled
all-MiniLM-L6-v2, the data is a fixed slice of the bundled stdlib docstring
corpus, and every collection is a real SQLite file under a temporary directory.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import faiss
import pytest
import torch
from tiny_text import build_tiny_model

import selfsim
from selfsim import ChunkingConfig, Collection
from selfsim.encoders.base import Encoder
from selfsim.registry import load_encoder

SAMPLE_CORPUS = Path(selfsim.__file__).parent / "sample" / "stdlib_docs.jsonl"

# The slice holds a few short docstrings from every area and many more from one area, so a
# filter on that area passes a rare-ish subset that an unrelated query never ranks on its own.
RARE_AREA = "compression and archives"
RARE_AREA_SIZE = 30
PER_AREA = 5


# The tests make many tiny calls (one query, a few hundred vectors). Thread pools only cost time
# there, and on a busy or shared machine OpenMP's spinning makes each such call 20-40x slower, so
# torch and FAISS run single-threaded here (SELFSIM_TEST_THREADS overrides; child processes get the
# same through OMP_NUM_THREADS).
TEST_THREADS = int(os.environ.get("SELFSIM_TEST_THREADS", "1"))
torch.set_num_threads(TEST_THREADS)
faiss.omp_set_num_threads(TEST_THREADS)
os.environ.setdefault("OMP_NUM_THREADS", str(TEST_THREADS))


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The default encoder, through the registry so in-process CLI calls reuse the same object."""
    return load_encoder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def torch_encoder() -> Encoder:
    """The default model on the torch backend, for tests that compare vectors computed in different calls:
    int8 vectors also depend (at cosine ~0.99) on the batch a text was encoded in."""
    return load_encoder("all-MiniLM-L6-v2", "torch")


@pytest.fixture(scope="session")
def stdlib_records() -> list[dict[str, Any]]:
    """Every record of the bundled corpus (id, text, module, kind, area, lines)."""
    with SAMPLE_CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def sample_records(stdlib_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A fixed ~135-record slice of short docstrings: PER_AREA per area, RARE_AREA_SIZE of RARE_AREA."""
    by_area: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for record in stdlib_records:
        if 8 <= len(record["text"].split()) <= 60:
            by_area[record["area"]].append(record)
    chosen: list[dict[str, Any]] = []
    for area in sorted(by_area):
        chosen += by_area[area][:RARE_AREA_SIZE if area == RARE_AREA else PER_AREA]
    return chosen


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder,
               sample_records: list[dict[str, Any]]) -> Path:
    """A closed collection of the sample slice (Flat index); copy it before changing it."""
    path = tmp_path_factory.mktemp("sample") / "collection"
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(sample_records)
    return path


@pytest.fixture(scope="session")
def sample(sample_dir: Path, encoder: Encoder) -> Iterator[Collection]:
    """The sample collection, open for reading. Tests must not write to it (use sample_copy)."""
    collection = Collection.open(sample_dir, encoder=encoder)
    yield collection
    collection.close()


@pytest.fixture
def sample_copy_dir(sample_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the sample collection's directory (not opened)."""
    target = tmp_path / "copy"
    shutil.copytree(sample_dir, target)
    return target


@pytest.fixture
def sample_copy(sample_copy_dir: Path, encoder: Encoder) -> Iterator[Collection]:
    """A private, writable copy of the sample collection."""
    collection = Collection.open(sample_copy_dir, encoder=encoder)
    yield collection
    collection.close()


@pytest.fixture
def make_collection(tmp_path: Path, encoder: Encoder) -> Iterator[Callable[..., Collection]]:
    """Factory for new collections under tmp_path, closed at teardown.

    ``make_collection(records, name="c", index="Flat", chunking=ChunkingConfig(), model=None)``.
    """
    opened: list[Collection] = []

    def make(records: list[dict[str, Any]] | None = None, name: str = "collection", index: str = "Flat",
             chunking: ChunkingConfig = ChunkingConfig(), model: Encoder | None = None) -> Collection:
        collection = Collection.create(tmp_path / name, encoder=model or encoder, index=index, chunking=chunking)
        opened.append(collection)
        if records:
            collection.add(records)
        return collection

    yield make
    for collection in opened:
        try:
            collection.close()
        except Exception:  # a test may have closed it already
            pass


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, list[Any]], Path]:
    """Write rows (dicts become JSON lines, strings are written verbatim) to tmp_path/name."""

    def write(name: str, rows: list[Any]) -> Path:
        path = tmp_path / name
        lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny sentence-transformers model directory (random 2-layer BERT, see tiny_text.py; built once)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))
