"""The door to Gameball: hand over an operation, get its outcome.

    GameballSender.send(operation)
        ├─ RateLimiter: a place in the resource's windows (and its 429 hold)
        ├─ connections: no more requests in flight than the pools have connections
        └─ GameballClient: the HTTP request, its answer classified by the retry table

Everything that shapes traffic on the wire lives behind this one call, as httpx keeps
connection pooling behind `AsyncBaseTransport`: the engine decides *what* to send and what an
outcome means for the record (retry, dead-letter, stop); the sender decides *how* it travels.
An outcome is the return (accepted) or one of the bridge's `DeliveryError`s.
"""

from __future__ import annotations

import asyncio

import httpx

from bridge.backoff import Backoff
from bridge.errors import RateLimitedError
from bridge.gameball.client import GameballClient, RequestObserver
from bridge.gameball.rate_limits import RateLimiter
from bridge.gameball.retry_policy import DEFAULT_POLICY, RetryPolicy
from bridge.gameball.settings import GameballConfig
from bridge.record import Operation, Resource


class GameballSender:
    def __init__(
        self,
        config: GameballConfig,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: RequestObserver | None = None,
        client: GameballClient | None = None,
    ) -> None:
        """`backoff` spaces the holds after a 429 without Retry-After (the engine's retry
        backoff); `client` replaces the HTTP client (tests)."""
        self._client = client or GameballClient(
            config, policy=policy, transport=transport, observe=observe
        )
        self._limits = RateLimiter(config.rate_limits.windows())
        # No more requests in flight than the HTTP pools have connections: a request queued
        # for a connection would otherwise count its wait against the pool timeout.
        self._connections = asyncio.Semaphore(config.max_connections)
        self._backoff = backoff or Backoff(0.2, 30.0)
        # 429s in a row per resource: each hold without Retry-After grows like a backoff.
        self._rate_limited: dict[Resource, int] = {}

    async def send(self, operation: Operation) -> float:
        """Send one operation; return the seconds it waited for room under the rate limits.
        Raises a `DeliveryError` saying what Gameball's answer (or its absence) means."""
        # The rate-limit slot first: a lane waiting for its resource's window (or a 429
        # hold) must not sit on one of the connections that the other resources need.
        async with self._limits.slot(operation.resource) as waited, self._connections:
            try:
                await self._client.send(operation)
            except RateLimitedError as exc:
                raise self._held(operation.resource, exc) from None
            self._rate_limited.pop(operation.resource, None)
            return waited

    def _held(self, resource: Resource, exc: RateLimitedError) -> RateLimitedError:
        """Over the account's limit (another client on it, or a smaller limit than
        documented): hold every request of this resource, not just this one, for Retry-After
        (never less than a backoff, so "Retry-After: 0" is no tight loop). The error says
        how long, so the caller waits at least as long."""
        count = self._rate_limited[resource] = self._rate_limited.get(resource, 0) + 1
        hold = max(exc.retry_after or 0.0, self._backoff.delay(count))
        self._limits.hold(resource, hold)
        return RateLimitedError(
            exc.message,
            status=exc.status,
            code=exc.code,
            retry_after=hold,
            max_attempts=exc.max_attempts,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
