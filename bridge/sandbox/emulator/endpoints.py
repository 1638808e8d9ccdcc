"""The emulator's endpoints, read from the bridge's operation table (`bridge.operations`):
one per method and path, each with the name requests to it are counted and recorded under,
its rate-limit bucket, whether it wants the secret key, and its idempotency key.

    POST /api/{v}/integrations/orders                      -> "orders"  (a tracking call:
    POST /api/{v}/integrations/transactions/refund         -> "refund"   its resource's name)
    DELETE /api/{v}/integrations/customers/{customerId}    -> "delete_customer", customerId

Two operations of one call (a cancellation is a full refund) share its endpoint, under the
first one's name. The batch endpoints are `batches.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote

from bridge.operations import OPERATIONS, TRACKING, Description, Resource

VERSIONS = ("v4.0", "v4.1")
_PREFIX = re.compile(r"/api/(v4\.[01])/integrations/(.+)")
_PARAMETER = re.compile(r"\\\{(\w+)\\\}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # a tracking call's resource ("orders"), else the operation's name ("refund")
    method: str
    description: Description  # the widest of the operations served here (its fields)
    pattern: re.Pattern[str] | None  # for a path with parameters; None: matched exactly

    @property
    def bucket(self) -> Resource:
        return self.description.bucket


def _name(description: Description) -> str:
    tracking = TRACKING[description.bucket] is description
    return description.bucket.value if tracking else description.name


def _endpoints() -> tuple[Endpoint, ...]:
    found: dict[tuple[str, str], Endpoint] = {}
    for description in OPERATIONS.values():
        key = (description.method, description.path)
        known = found.get(key)
        if known is not None:
            # A second operation of one call (cancel_order of refund's): the endpoint takes
            # the wider body, and every field of the narrower one is one of it.
            if not description.body.items() <= known.description.body.items():
                raise AssertionError(f"{description.name} differs from {known.name}'s call")
            continue
        pattern = None
        if description.params:
            regex = _PARAMETER.sub(r"(?P<\1>[^/]+)", re.escape(description.path))
            pattern = re.compile(regex)
        found[key] = Endpoint(_name(description), description.method, description, pattern)
    return tuple(found.values())


ENDPOINTS = _endpoints()
# Every name requests are counted under, tracking calls first.
NAMES: tuple[str, ...] = tuple(e.name for e in ENDPOINTS)
BY_NAME: Mapping[str, Endpoint] = MappingProxyType({e.name: e for e in ENDPOINTS})
# Operation name -> the endpoint that serves it (cancel_order -> "refund").
SERVED_BY: Mapping[str, str] = MappingProxyType(
    {
        d.name: next(
            e.name for e in ENDPOINTS if (e.method, e.description.path) == (d.method, d.path)
        )
        for d in OPERATIONS.values()
    }
)
_EXACT: Mapping[str, tuple[Endpoint, ...]] = MappingProxyType(
    {
        path: tuple(e for e in ENDPOINTS if e.pattern is None and e.description.path == path)
        for path in {e.description.path for e in ENDPOINTS if e.pattern is None}
    }
)
_PATTERNS = tuple(e for e in ENDPOINTS if e.pattern is not None)


@dataclass(frozen=True, slots=True)
class Match:
    version: str
    endpoints: tuple[Endpoint, ...]  # one per method served at the path
    params: Mapping[str, str]  # the path's parameters, unescaped

    def for_method(self, method: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.method == method), None)

    @property
    def methods(self) -> str:
        return ", ".join(e.method for e in self.endpoints)


def match(path: str) -> Match | None:
    """The endpoints at `path` (the request target without its query), or None."""
    found = _PREFIX.fullmatch(path)
    if found is None:
        return None
    version, rest = found.groups()
    exact = _EXACT.get(rest)
    if exact:
        return Match(version, exact, {})
    for endpoint in _PATTERNS:
        assert endpoint.pattern is not None
        params = endpoint.pattern.fullmatch(rest)
        if params is not None:
            same = tuple(e for e in _PATTERNS if e.description.path == endpoint.description.path)
            values = {k: unquote(v) for k, v in params.groupdict().items()}
            return Match(version, same, values)
    return None
