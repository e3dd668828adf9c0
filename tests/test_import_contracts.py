"""The import contracts of DESIGN.md ("Architecture"), checked by reading every module's imports (nothing runs).

Every ``import x`` and ``from x import y`` of every module under ``src/selfsim`` counts, wherever it is (at
the top, inside a function, under ``if TYPE_CHECKING:``); relative imports are resolved, and ``from p import m``
names the module ``p.m`` when ``m`` is one. Imports by name at run time (``importlib.import_module``) are not
seen. The rules:

1. ``selfsim.cli`` and ``selfsim.http`` reach a job only through the app layer: from selfsim they import
   ``selfsim.app``, ``selfsim.config``, ``selfsim.errors``, ``selfsim.version`` and their own package (the CLI
   also ``selfsim.evaluation``, for the ``eval`` commands), and they never reach through a collection's
   ``.store``;
2. the store never imports a task, the evaluation, the app, the CLI or the HTTP service;
3. the pure modules (data, encoders, objectives, training, and the array-in/array-out task modules) never
   import the store, nor a store-side task module at run time;
4. a layer imports only from itself and the layers before it (the order of DESIGN.md);
5. nothing inside the package imports the package root ``selfsim``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "selfsim"

# -- the layers ------------------------------------------------------------------------------------

# Modules every layer below the app may import: they import nothing of selfsim but each other.
BASE = ("selfsim.config", "selfsim.errors", "selfsim.version", "selfsim.threads", "selfsim.indexes")

# DESIGN.md's order; a module imports only from its own layer and the ones before it. ``registry`` builds
# encoders by name (it imports ``selfsim.encoders``), so it sits right after them; the training loop loads
# its base model through it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("selfsim.data",),
    ("selfsim.encoders",),
    ("selfsim.registry",),
    ("selfsim.objectives",),
    ("selfsim.training",),
    ("selfsim.store",),
    ("selfsim.tasks",),
    ("selfsim.evaluation",),
    ("selfsim.app",),
    ("selfsim.cli", "selfsim.http"),
)

# Rule 1: what the command line and the HTTP service may import from selfsim, besides their own package.
FRONT_DOORS = ("selfsim.app", "selfsim.config", "selfsim.errors", "selfsim.version")
CLI_ALSO = ("selfsim.evaluation",)  # the eval commands score encoders on files, with no collection
FRONT_EXCEPTIONS = {
    ("selfsim.cli.serve", "selfsim.http"): "the serve command starts the HTTP service, the other front end",
}

# Rule 2: what the store never imports.
STORE_NEVER = ("selfsim.tasks", "selfsim.evaluation", "selfsim.app", "selfsim.cli", "selfsim.http")

# Rule 3: the pure packages, and the task modules that touch the store (every other task module is pure).
PURE = ("selfsim.data", "selfsim.encoders", "selfsim.objectives", "selfsim.training", "selfsim.tasks")
STORE_SIDE = {
    "selfsim.tasks.ingest": "writes records, their chunks and vectors into the store",
    "selfsim.tasks.adapt": "reads the collection's texts and re-embeds its chunks under a new encoder",
    "selfsim.tasks.classify.collection": "reads stored vectors and labels, writes predictions back",
    "selfsim.tasks.distributed.pipeline": "the one writer of a Ray indexing pipeline writes its results",
    "selfsim.tasks.distributed.shards": "builds shards from stored vectors, catches them up with the store",
    "selfsim.tasks.duplicates.collection": "reads stored item vectors, writes the groups as metadata",
    "selfsim.tasks.explain.collection": "fetches the items, labels and interactions an explanation is about",
    "selfsim.tasks.outliers.collection": "reads stored item vectors, writes the outliers as metadata",
    "selfsim.tasks.recommend.collection": "reads interactions and item vectors, keeps the model by the store",
    "selfsim.tasks.search.collection": "asks the store for nearest neighbours and keyword matches",
    "selfsim.tasks.topics.collection": "reads stored item vectors, writes topics as metadata",
}

# Reads of ``.store`` in the CLI or the HTTP service, by module, each with the reason it stays for now (empty:
# none do).
KNOWN_STORE_READS: dict[str, str] = {}

# Imports that break a rule today, each with the reason it stays for now (empty: none do).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


# -- reading the imports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One imported selfsim module as written in ``module`` (``path``, ``line``)."""

    module: str
    path: str
    line: int
    target: str
    type_checking: bool  # under ``if TYPE_CHECKING:``, so never run


def _module_name(path: Path) -> tuple[str, bool]:
    """The dotted name of the module in ``path`` and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _modules() -> dict[str, Path]:
    return {_module_name(path)[0]: path for path in sorted((SOURCE / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def read_imports(module: str, source: str, is_package: bool, known: set[str], path: str = "") -> list[Import]:
    """The selfsim modules that ``source`` (the text of ``module``) imports, with where and how."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def add(target: str, node: ast.stmt, guarded: bool) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            found.append(Import(module, path, node.lineno, target, guarded))

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, guarded)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source_module = ".".join(base + ([node.module] if node.module else []))
            else:
                source_module = node.module or ""
            for alias in node.names:  # ``from p import m`` imports the module p.m when there is one
                submodule = f"{source_module}.{alias.name}"
                add(submodule if submodule in known else source_module, node, guarded)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(ast.parse(source), False)
    return found


def _all_imports() -> list[Import]:
    modules = _modules()
    known = set(modules)
    found = []
    for module, path in modules.items():
        found += read_imports(module, path.read_text(encoding="utf-8"), _module_name(path)[1], known,
                              str(path.relative_to(SOURCE.parent)))
    return found


IMPORTS = _all_imports()


def _within(module: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _layer(module: str) -> int | None:
    """The index of ``module``'s layer in :data:`LAYERS`; None for the base modules and the package root."""
    for index, layer in enumerate(LAYERS):
        if _within(module, layer):
            return index
    return None


def _check(broken: list[tuple[Import, str]]) -> None:
    """Fail with one line per import that breaks a rule (but for the known exceptions): where, what, which rule."""
    lines = [f"{i.path}:{i.line}: {i.module} imports {i.target}: {rule}" for i, rule in broken
             if (i.module, i.target) not in KNOWN_EXCEPTIONS]
    if lines:
        pytest.fail("\n".join(lines), pytrace=False)


# -- the reader itself -------------------------------------------------------------------------------


def test_the_reader_sees_every_kind_of_import() -> None:
    source = """
import selfsim.store.database
from selfsim.tasks import ingest
from ..store import filters
from . import common
from .common import console
import numpy
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from selfsim.tasks.recommend.collection import Recommender
def later():
    from selfsim import registry
"""
    known = {"selfsim.tasks.ingest", "selfsim.store.filters", "selfsim.cli.common", "selfsim.registry"}
    found = read_imports("selfsim.cli.example", source, False, known)
    assert [(i.target, i.type_checking) for i in found] == [
        ("selfsim.store.database", False), ("selfsim.tasks.ingest", False), ("selfsim.store.filters", False),
        ("selfsim.cli.common", False), ("selfsim.cli.common", False),
        ("selfsim.tasks.recommend.collection", True), ("selfsim.registry", False)]
    package = read_imports("selfsim.cli", "from . import main\nfrom .. import errors", True,
                           {"selfsim.cli.main", "selfsim.errors"})
    assert [i.target for i in package] == ["selfsim.cli.main", "selfsim.errors"]


def test_every_module_has_a_place_and_every_listed_module_exists() -> None:
    modules = set(_modules())
    assert len(modules) > 100 and len(IMPORTS) > 300  # the walk found the package
    placeless = [m for m in modules if m != PACKAGE and _layer(m) is None and not _within(m, BASE)]
    assert not placeless, f"modules in no layer of DESIGN.md; add them to LAYERS or BASE: {placeless}"
    stale = [m for m in STORE_SIDE if m not in modules]
    assert not stale, f"STORE_SIDE names modules that do not exist: {stale}"
    for module in modules:  # every task package's collection module is store-side, and listed with a reason
        if _within(module, "selfsim.tasks") and module.endswith(".collection"):
            assert module in STORE_SIDE, f"{module} touches the store by its name; list it in STORE_SIDE"
    stale_exceptions = [pair for pair in (*KNOWN_EXCEPTIONS, *FRONT_EXCEPTIONS)
                        if not any((i.module, i.target) == pair for i in IMPORTS)]
    assert not stale_exceptions, f"exceptions that no import needs any more; remove them: {stale_exceptions}"


# -- the rules -----------------------------------------------------------------------------------------


def test_cli_and_http_reach_jobs_only_through_the_app_layer() -> None:
    broken = []
    for i in IMPORTS:
        for front in ("selfsim.cli", "selfsim.http"):
            if not _within(i.module, front):
                continue
            allowed = FRONT_DOORS + (front,) + (CLI_ALSO if front == "selfsim.cli" else ())
            if not _within(i.target, allowed) and (i.module, i.target) not in FRONT_EXCEPTIONS:
                broken.append((i, f"rule 1: {front} imports from selfsim only {', '.join(allowed)}"))
    _check(broken)


def test_cli_and_http_never_reach_through_a_collections_store() -> None:
    reads = []
    for module, path in _modules().items():
        if not _within(module, ("selfsim.cli", "selfsim.http")) or module in KNOWN_STORE_READS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reads += [f"{path.relative_to(SOURCE.parent)}:{node.lineno}: {module} reads .store: rule 1: the CLI and "
                  "the HTTP service use the Collection's own methods (add the one that is missing to the app "
                  "layer)" for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "store"]
    if reads:
        pytest.fail("\n".join(reads), pytrace=False)
    for module in KNOWN_STORE_READS:
        source = _modules()[module].read_text(encoding="utf-8")
        assert any(isinstance(node, ast.Attribute) and node.attr == "store" for node in ast.walk(ast.parse(source))), \
            f"{module} no longer reads .store; remove it from KNOWN_STORE_READS"


def test_the_store_never_imports_tasks_or_anything_above_them() -> None:
    broken = [(i, f"rule 2: the store never imports {', '.join(STORE_NEVER)}") for i in IMPORTS
              if _within(i.module, "selfsim.store") and _within(i.target, STORE_NEVER)]
    _check(broken)


def test_pure_modules_never_import_the_store() -> None:
    broken = []
    for i in IMPORTS:
        if not _within(i.module, PURE) or i.module in STORE_SIDE:
            continue
        if _within(i.target, "selfsim.store"):
            broken.append((i, "rule 3: a pure module never imports the store (a task that needs it belongs in "
                              "its package's collection.py, listed in STORE_SIDE)"))
        elif i.target in STORE_SIDE and not i.type_checking:
            broken.append((i, "rule 3: a pure module never imports a store-side module at run time (for "
                              "annotations only, import it under `if TYPE_CHECKING:`)"))
    _check(broken)


def test_each_layer_imports_only_from_the_layers_before_it() -> None:
    names = [" / ".join(p.removeprefix("selfsim.") for p in layer) for layer in LAYERS]
    broken = []
    for i in IMPORTS:
        if i.target == PACKAGE:
            continue  # rule 5 says it
        if _within(i.module, BASE):
            if not _within(i.target, BASE):
                broken.append((i, f"rule 4: the base modules ({', '.join(BASE)}) import only each other"))
            continue
        here, there = _layer(i.module), _layer(i.target)
        if here is None or there is None:
            continue  # the package root may import anything; the base modules serve every layer
        if there > here:
            broken.append((i, f"rule 4: the {names[here]} layer imports only from itself and the layers before "
                              f"it ({' -> '.join(names)}), not from {names[there]}"))
    _check(broken)


def test_nothing_inside_imports_the_package_root() -> None:
    broken = [(i, "rule 5: import from the module that defines the name (selfsim.app, selfsim.config...), "
                  "never from the package root") for i in IMPORTS if i.target == PACKAGE]
    _check(broken)


def test_every_listed_exception_has_a_reason() -> None:
    listed = {**{str(pair): why for pair, why in KNOWN_EXCEPTIONS.items()}, **KNOWN_STORE_READS}
    assert all(why.strip() for why in listed.values()), [name for name, why in listed.items() if not why.strip()]
