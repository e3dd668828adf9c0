"""Errors a user can cause, each carrying one sentence that says what to do.

The CLI and the HTTP service print ``str(error)`` and nothing else for these;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class SelfsimError(Exception):
    """Base class for errors caused by input, configuration or usage."""


class InputError(SelfsimError):
    """A record in an input file cannot be used (bad JSON, missing or empty text, bad bytes)."""

    def __init__(self, source: str, location: str, problem: str, advice: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        self.advice = advice
        where = f"{source} {location}".strip()
        super().__init__(f"{where} {problem}; {advice}.")


class NotFoundError(SelfsimError):
    """An id, a collection or a model directory that does not exist."""


class ConfigError(SelfsimError):
    """A setting that cannot work (unknown mode, bad index spec, bad filter)."""
