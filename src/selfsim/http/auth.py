"""API keys on requests: ``Authorization: Bearer <key>`` -> the key's role in one collection.

A key belongs to the collection whose key table holds its hash (``selfsim keys create``). A route
declares the least role it needs with ``Depends(require("write"))``; a missing or unknown key is 401,
a key whose role is too low 403. Nothing here logs or echoes key material.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from selfsim.app.keys import ROLES, ApiKey
from selfsim.http.state import Registry, ServedCollection

bearer = HTTPBearer(auto_error=False, description="An API key made with `selfsim keys create COLLECTION --role ROLE`.")

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Access:
    """A request's collection and the key that opened it."""

    served: ServedCollection
    key: ApiKey

    def allows(self, role: str) -> bool:
        """Whether the key's role is ``role`` or above."""
        return self.key.allows(role)

    def need(self, role: str, why: str) -> None:
        """403 unless the key's role is ``role`` or above (for rights that depend on the request body)."""
        if not self.allows(role):
            raise forbidden(self.key.role, role, self.served.name, why)


def unauthorized(message: str) -> HTTPException:
    """401 with the Bearer challenge."""
    return HTTPException(status_code=401, detail=message, headers=_CHALLENGE)


def forbidden(have: str, need: str, collection: str, why: str = "this") -> HTTPException:
    """403: the key is good but its role is too low."""
    return HTTPException(status_code=403, detail=f"{why} needs a key with role {need} or above on {collection!r}, "
                                                 f"and this key's role is {have}; ask for a {need} key.")


def registry_of(request: Request) -> Registry:
    """The collections the running app serves."""
    return request.app.state.registry


def presented_key(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The key of a request; 401 when there is none."""
    if credentials is None or not credentials.credentials.strip():
        raise unauthorized("this endpoint needs an API key: send the header 'Authorization: Bearer <key>' "
                           "(make one with `selfsim keys create COLLECTION --role read`).")
    return credentials.credentials.strip()


def verify(served: ServedCollection, key: str) -> ApiKey | None:
    """The key's record in ``served``'s key table, or None."""
    with served.reading() as collection:
        return collection.keys.verify(key)


def require(role: str) -> Callable[..., Access]:
    """A dependency: the collection named in the path, opened by a key of ``role`` or above."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(request: Request, collection: str = Path(description="A collection the service serves."),
                   credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Access:
        key = presented_key(credentials)
        registry = registry_of(request)
        if collection not in registry.by_name and not any(verify(other, key) for other in registry):
            # Without a key that opens something here, an unknown name and a wrong key look the same,
            # so the names of what is served cannot be probed.
            raise unauthorized(f"this API key does not open the collection {collection!r}; use a key made for it.")
        served = registry.get(collection)
        record = verify(served, key)
        if record is None:
            raise unauthorized(f"this API key does not open the collection {collection!r} (it is unknown there "
                               "or was revoked); use a key made for it.")
        if not record.allows(role):
            raise forbidden(record.role, role, collection)
        return Access(served, record)

    dependency.required_role = role  # type: ignore[attr-defined]  # read by the tests that walk the routes
    return dependency


@dataclass(frozen=True)
class KeyHolder:
    """The collections one key opens (for routes that name no collection), with its role in each."""

    access: tuple[Access, ...]

    def names(self) -> set[str]:
        """The names of the collections the key opens."""
        return {a.served.name for a in self.access}


def any_collection(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> KeyHolder:
    """A dependency: every collection the presented key opens; 401 when it opens none."""
    key = presented_key(credentials)
    found = []
    for served in registry_of(request):
        record = verify(served, key)
        if record is not None:
            found.append(Access(served, record))
    if not found:
        raise unauthorized("this API key opens no collection served here (it is unknown or was revoked); "
                           "make one with `selfsim keys create COLLECTION --role read`.")
    return KeyHolder(tuple(found))


any_collection.required_role = "read"  # type: ignore[attr-defined]
