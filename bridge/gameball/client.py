"""The one door to Gameball's HTTP API.

A few pooled `httpx.AsyncClient`s sharing one TLS context (`bridge.gameball.tls`), explicit
timeouts, bodies encoded with orjson. Each operation's method and path come from its
description (`bridge.operations`), its path's parameters escaped here. Every httpx exception
is translated here into the bridge's own errors, in one context manager (`_translated`);
nothing outside this module imports httpx.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import orjson
import structlog

from bridge.errors import GameballAccessError, OutcomeUnknownError, RetryableDeliveryError
from bridge.gameball.batch_status import JobStatus, UnreadableStatus, parse_status
from bridge.gameball.outcomes import classify, parse_error_body
from bridge.gameball.retry_policy import DEFAULT_POLICY, NO_SUCH_ENDPOINT, RetryPolicy
from bridge.gameball.settings import GameballConfig
from bridge.gameball.tls import describe_tls_failure, ssl_context
from bridge.operations import TRACKING, Description
from bridge.record import Operation, Resource

log = structlog.get_logger("bridge.gameball")

CONNECTIONS_PER_POOL = 4
# The two documented paths of a batch job's status call (API.md, "Batches").
STATUS_PATHS = ("batches/{id}/status", "batch/{id}")

# Told of every request: its endpoint ("events", "batch/events", "batch_status"), the HTTP
# status (or "error" when there was no answer), and the seconds it took
# (bridge.observability.metrics).
RequestObserver = Callable[[str, int | str, float], None]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Gameball's answer to `GameballClient.probe`: the HTTP status and error code, or
    `status` None and `message` saying why there was no answer (`tls_failed` when the TLS
    handshake failed: an untrusted certificate, or not TLS at all)."""

    status: int | None
    code: int | None
    message: str
    tls_failed: bool = False


def request_path(description: Description, params: tuple[tuple[str, str], ...]) -> str:
    """The operation's path with its parameters filled in, each escaped whole (a customer id
    "a/b" is one segment, "a%2Fb", never two; "." and ".." cannot walk up the path)."""
    values = dict(params)
    path = description.path
    for name in description.params:
        segment = quote(values[name], safe="")
        if segment.strip(".") == "":  # "." or "..": a segment the URL would resolve away
            segment = segment.replace(".", "%2E")
        path = path.replace("{" + name + "}", segment)
    return path


class GameballClient:
    def __init__(
        self,
        config: GameballConfig,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: RequestObserver | None = None,
        status_path: str = "batches/{id}/status",
    ) -> None:
        """`status_path`: where a batch job's status is read, under .../integrations/."""
        self._policy = policy
        self._observe = observe
        self._tls = config.tls
        headers = {
            "apikey": config.api_key.get_secret_value(),
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": "gameball-kafka-bridge",
        }
        # Sending the secret key on every call is safe (API.md) and covers accounts in
        # "high security mode", which want it everywhere.
        if config.secret_key is not None:
            headers["secretkey"] = config.secret_key.get_secret_value()
        t = config.timeouts
        # Several small pools instead of one large one: httpcore scans every connection of a
        # pool on each request, so one pool of 100 connections costs ~6 ms of CPU per request
        # here, against ~2 ms for pools of 4 (bench/end_to_end.py). A customer always uses
        # the same pool, which keeps its connection warm.
        shards = -(-config.max_connections // CONNECTIONS_PER_POOL)
        # Each pool may open up to the full limit, so a request never queues inside a pool
        # (the caller bounds requests in flight to max_connections across all pools).
        per_pool = config.max_connections
        # One context for every pool: httpx would otherwise build one per pool, loading the
        # whole CA store into each.
        tls = ssl_context(config.tls)
        self._pools = [
            httpx.AsyncClient(
                base_url=f"{config.base_url}/api/{config.api_version}/integrations/",
                headers=headers,
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
                verify=tls,
                transport=transport,
                follow_redirects=False,
            )
            for _ in range(shards)
        ]
        # Each resource's batch endpoint: its tracking call's batch path (the table's).
        self._batch_paths = {
            resource: d.batch_path for resource, d in TRACKING.items() if d.batch_path is not None
        }
        self._status_path = status_path

    async def send(self, operation: Operation) -> float:
        """Make one operation's call: the method and path its description gives, its path's
        parameters escaped, its body (if it has one). Returns the request's latency in seconds
        when Gameball accepted it; raises a `DeliveryError` subclass saying what to do
        otherwise."""
        started = time.perf_counter()
        pool = self._pools[hash(operation.customer_id) % len(self._pools)]
        description = operation.description
        await self._request(
            description.method,
            request_path(description, operation.params),
            orjson.dumps(operation.body) if description.has_body else None,
            pool,
            description=description,
        )
        return time.perf_counter() - started

    async def _post(
        self,
        path: str,
        content: bytes,
        pool: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        return await self._request("POST", path, content, pool)

    async def _request(
        self,
        method: str,
        path: str,
        content: bytes | None,
        pool: httpx.AsyncClient | None = None,
        *,
        description: Description | None = None,
    ) -> httpx.Response:
        """Make the call, translate httpx's failures and Gameball's refusals into
        `DeliveryError`s; return the accepted answer. `description`: the operation's, whose
        own codes the retry table reads, and whose path's template names the call to the
        observer (a customer's id must never become a metric label)."""
        started = time.perf_counter()
        path_label = description.path if description is not None else path
        with self._translated(path_label, started, may_apply=True):
            response = await (pool or self._pools[0]).request(method, path, content=content)
        self._observed(path_label, response.status_code, started)
        error = classify(
            response.status_code, response.headers, response.content, self._policy, description
        )
        if error is not None:
            raise error
        return response

    async def create_batch(self, resource: Resource, body: bytes) -> int:
        """Post a batch body (``{"body": [...]}``) to ``batch/<resource>``; return the job id.
        Raises a `DeliveryError` as `send` does; a 2xx without a job id is retried (it may
        have created a job: then its items are sent twice, never lost)."""
        response = await self._post(self._batch_paths[resource], body)
        try:
            doc = orjson.loads(response.content)
            job_id = doc.get("jobId", doc.get("batchId", doc.get("id")))
            return int(job_id)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            text = response.content[:200].decode("utf-8", "replace")
            raise RetryableDeliveryError(
                f"HTTP {response.status_code}: no jobId in the batch answer: {text!r}",
                status=response.status_code,
            ) from None

    async def batch_status(self, job_id: int, item_count: int) -> JobStatus:
        """Ask for a job's status (the configured `status_path`, either design's answer).
        Raises a `DeliveryError` for an answer that is not a 2xx status, or a
        `RetryableDeliveryError` when the answer cannot be read.

        The docs give two paths for this call: when the configured one does not exist (a 404
        or 405 without a Gameball code), the other is tried, and kept if it answers."""
        try:
            response = await self._get_status(self._status_path, job_id)
        except GameballAccessError as exc:
            other = next(p for p in STATUS_PATHS if p != self._status_path)
            if exc.code is not None or exc.status not in NO_SUCH_ENDPOINT:
                raise
            response = await self._get_status(other, job_id)
            log.warning(
                "batch.status_path_changed",
                configured=self._status_path,
                using=other,
                hint=f"set delivery.batch.status_path: {other!r}",
            )
            self._status_path = other
        try:
            return parse_status(response.content, item_count)
        except UnreadableStatus as exc:
            raise RetryableDeliveryError(f"unreadable batch status: {exc}") from None

    async def stop_batch(self, job_id: int) -> None:
        """Ask Gameball to stop a job (``POST batches/{id}/stop``, the spec's call): one given
        up must not go on holding its customers, or every resend of its items is a 2001."""
        await self._post(f"batches/{job_id}/stop", b"{}", self._pools[job_id % len(self._pools)])

    async def _get_status(self, template: str, job_id: int) -> httpx.Response:
        started = time.perf_counter()
        pool = self._pools[job_id % len(self._pools)]
        with self._translated("batch_status", started, may_apply=False):
            response = await pool.get(template.format(id=job_id))
        self._observed("batch_status", response.status_code, started)
        error = classify(response.status_code, response.headers, response.content, self._policy)
        if error is not None:
            raise error
        return response

    async def probe(self) -> ProbeResult:
        """Post ``{}`` to the events endpoint: no customer data, nothing is recorded. Gameball
        checks the keys before the body, so a validation error (400, code 3000) means the keys
        were accepted. Never raises for an answer or a network failure."""
        try:
            with self._translated(None, time.perf_counter(), may_apply=False):
                probe_path = TRACKING[Resource.EVENTS].path
                response = await self._pools[0].post(probe_path, content=b"{}")
        except RetryableDeliveryError as exc:
            cause = exc.__cause__
            tls_failed = isinstance(cause, httpx.TransportError) and (
                describe_tls_failure(cause, self._tls) is not None
            )
            return ProbeResult(None, None, exc.message, tls_failed=tls_failed)
        if 200 <= response.status_code < 300:
            return ProbeResult(response.status_code, None, "")
        code, message = parse_error_body(response.content)
        return ProbeResult(response.status_code, code, message)

    @contextlib.contextmanager
    def _translated(
        self, endpoint: str | None, started: float, *, may_apply: bool
    ) -> Iterator[None]:
        """httpx's failures as the bridge's errors, for every call in one place (as httpx's
        own `map_httpcore_exceptions` maps httpcore's), each observed under `endpoint` (None:
        not observed). `may_apply`: the call changes something at Gameball, so one sent
        without an answer may have been applied; a read (a job's status) is merely retried."""
        try:
            yield
        except httpx.TransportError as exc:  # timeouts included
            if endpoint is not None:
                self._observed(endpoint, "error", started)
            name = type(exc).__name__
            if may_apply and isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
                # Sent, or partly sent, with no answer: Gameball may have applied it.
                raise OutcomeUnknownError(f"timed out: {name}") from exc
            if isinstance(exc, httpx.TimeoutException):
                # Connecting, or waiting for a connection: nothing reached Gameball (or a
                # read, which changes nothing).
                raise RetryableDeliveryError(f"timed out: {name}") from exc
            # Connection refused/reset, DNS, protocol errors: the request may not have
            # reached Gameball at all, so it is safe to try again.
            raise RetryableDeliveryError(self._transport_failure(exc)) from exc

    def _transport_failure(self, exc: httpx.TransportError) -> str:
        # A refused certificate is not transient the way a reset is, but it is still retried
        # like any failure to connect, and never dead-lettered: the record is not at fault,
        # and no request reached Gameball. It is also not an access denial (the gate that
        # stops all sending is for Gameball's answers about the keys): the cause is on the path
        # (a proxy, a certificate rotation at Gameball, the host's clock), may clear by itself
        # or on one edge node only, and the operator fixes it outside the bridge or with
        # gameball.tls.ca_file. So the record is held and retried with backoff, every
        # `gameball.retry` line says what to fix, and /readyz turns 503 after three failures.
        described = describe_tls_failure(exc, self._tls)
        if described is not None:
            return described
        return f"connection failed: {type(exc).__name__}: {exc}"

    def _observed(self, endpoint: str, status: int | str, started: float) -> None:
        if self._observe is not None:
            self._observe(endpoint, status, time.perf_counter() - started)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
