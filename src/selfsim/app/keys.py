"""API keys of a collection, as the CLI (``selfsim keys``) and the HTTP service use them.

>>> with Collection.open("notes") as notes:          # doctest: +SKIP
...     record, key = notes.keys.create("read", name="dashboard")
...     notes.keys.verify(key).role
'read'

See :mod:`selfsim.store.keys` for the key format and what is stored (a hash, never the key).
"""

from __future__ import annotations

from selfsim.store.keys import ROLES, ApiKey, KeyStore

__all__ = ["ROLES", "ApiKey", "Keys"]


class Keys:
    """The keys of one collection: make, list, revoke and check them."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store

    def create(self, role: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key with ``role``: its record and the key, which is shown once and never stored."""
        return self._store.create(role, name)

    def list(self) -> list[ApiKey]:
        """Every key (revoked ones too), oldest first, without secrets."""
        return self._store.list()

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by its id; raises :class:`~selfsim.errors.NotFoundError` for an unknown id."""
        return self._store.revoke(key_id)

    def verify(self, key: str) -> ApiKey | None:
        """The record of ``key`` if it is a whole, unrevoked key of this collection, else None."""
        return self._store.verify(key)

    def active(self) -> int:
        """How many keys are not revoked."""
        return self._store.active()
