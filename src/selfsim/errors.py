"""Errors a user can cause, each carrying one sentence that says what to do.

The CLI and the HTTP service print ``str(error)`` and nothing else for these;
any other exception is a bug and keeps its traceback. The class says what kind
of mistake it is, so a caller (or an HTTP status code) can tell them apart:

- :class:`InputError`: something the user gave is wrong (a value, a query, a
  filter, an id); :class:`RecordError` is its kind for one record of a file;
- :class:`NotFoundError`: an id, a collection, a model or a file that is not there;
- :class:`ConfigError`: a setting that cannot work (unknown mode, bad index spec);
- :class:`ConflictError`: the request is fine but the collection's state is in
  the way (an id that already exists, writes racing a re-embedding).

:class:`SelfsimError` is their common base and is never raised itself.
"""

from __future__ import annotations


class SelfsimError(Exception):
    """Base class for errors caused by input, configuration or usage; raise a subclass."""


class InputError(SelfsimError):
    """A value the user gave cannot be used (a bad query, filter, id, record or file content)."""


class RecordError(InputError):
    """A record in an input file cannot be used (bad JSON, missing or empty text, bad bytes).

    The message names the file (``source``) and the line or record (``location``).
    """

    def __init__(self, source: str, location: str, problem: str, advice: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        self.advice = advice
        where = f"{source} {location}".strip()
        super().__init__(f"{where} {problem}; {advice}.")

    def __reduce__(self) -> tuple:  # picklable across processes despite the four-argument constructor
        return (type(self), (self.source, self.location, self.problem, self.advice))


class NotFoundError(SelfsimError):
    """An id, a collection, a model directory or a file that does not exist."""


class ConfigError(SelfsimError):
    """A setting that cannot work (unknown mode, bad index spec, a collection from another version)."""


class ConflictError(SelfsimError):
    """The collection's state stands in the way (an id that already exists, concurrent changes)."""


class FilterWarning(UserWarning):
    """A metadata filter that is valid but probably not what was meant: a field no item has, or a value
    of a type no stored value of that field has (so the condition can only match nothing, or everything)."""
