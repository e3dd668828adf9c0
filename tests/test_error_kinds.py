"""Every error a user can cause says what kind of mistake it is: the base class is never raised itself."""

from __future__ import annotations

import ast
from pathlib import Path

import selfsim
from selfsim.errors import ConfigError, ConflictError, InputError, NotFoundError, RecordError, SelfsimError

SOURCE = Path(selfsim.__file__).parent


def test_no_module_raises_the_bare_base_class() -> None:
    offenders = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = node.exc.func
                if isinstance(name, ast.Name) and name.id == "SelfsimError":
                    offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
            if isinstance(node, ast.ClassDef) and path.name != "errors.py":
                if any(isinstance(base, ast.Name) and base.id == "SelfsimError" for base in node.bases):
                    offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno} subclasses the base directly")
    assert offenders == []


def test_the_kinds_are_distinct_subclasses() -> None:
    kinds = [InputError, NotFoundError, ConfigError, ConflictError]
    assert all(issubclass(kind, SelfsimError) for kind in kinds)
    assert not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)
    error = RecordError("data.jsonl", "line 3", "is not valid JSON", "fix the line")
    assert isinstance(error, InputError) and str(error) == "data.jsonl line 3 is not valid JSON; fix the line."
