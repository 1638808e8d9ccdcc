"""Deciding the answer to each request: Gameball's endpoints and the /_emulator controls.

Checks run in the order a request meets them at Gameball: injected faults (they stand for
the service failing before it looks at anything), authentication, rate limits, payload
parsing and validation, the per-customer lock (2001), duplicate transaction ids (9004).
The batch endpoints (`batches.py`) meet the same faults, authentication and rate limits.

All state is guarded by one lock, because tests call the Python API from their own thread
while the event loop thread serves requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import orjson

from . import endpoints, replies
from .admission import admit, customer_of
from .batches import BATCH_SETTINGS, Batches, BatchRoute, BatchSettings, delay_seconds, parse_route
from .controls import control
from .endpoints import VERSIONS
from .faults import Faults, FaultStep, Outage, StepSpec, parse_outage
from .jobs import BatchJob
from .ledger import reward
from .limits import BUCKETS, RateLimiter, merge_limits
from .protocol import Reply, Request
from .state import RESOURCES, ReceivedRequest, Recorder

# Endpoints that need the secret key whenever one is configured (API.md, "Base, versions,
# auth": the operation table says which); on v4.1 every endpoint does.
_SECRET_RESOURCES = frozenset(
    {e.name for e in endpoints.ENDPOINTS if e.description.secret_key} | {"batches"}
)
# What a script may be scoped to: a resource, or "batches" (every batch endpoint).
_SCOPES = (*RESOURCES, "batches")
_CONTROL_PREFIX = "/_emulator/"
_FAULT_KEYS = BATCH_SETTINGS | frozenset(
    {"latency_ms", "script", "script_resource", "outage", "rate_limits", "retry_after", "limits"}
)


class Router:
    def __init__(
        self,
        api_key: str,
        secret_key: str | None = None,
        latency_ms: float = 0,
        rate_limits: bool = False,
        retry_after: bool = True,
        record_bodies: bool = True,
        order_key: str | None = None,
        limits: Mapping[str, tuple[int, int]] | None = None,
        batch_delay_ms: float = 200,
    ) -> None:
        self.lock = threading.Lock()
        self._api_key = api_key
        self._secret_key = secret_key
        self._defaults = (_latency_seconds(latency_ms), rate_limits, retry_after)
        self._latency, self._rate_limits, self._retry_after = self._defaults
        self._initial_limits = limits
        self._limiter = RateLimiter(limits)
        self._faults = Faults()
        self.recorder = Recorder(record_bodies=record_bodies, order_key=order_key)
        self.batches = Batches(self.recorder, delay_seconds(batch_delay_ms))

    # fault and behaviour settings (callers from other threads go through these) -----------

    def set_latency(self, latency_ms: float) -> None:
        seconds = _latency_seconds(latency_ms)
        with self.lock:
            self._latency = seconds

    def script(self, steps: Iterable[StepSpec], resource: str | None = None) -> None:
        if resource is not None and resource not in _SCOPES:
            raise ValueError(f"unknown resource: {resource!r}")
        steps = list(steps)
        with self.lock:
            self._faults.script(steps, resource)

    def set_outage(self, outage: Outage) -> None:
        outage = parse_outage(outage)
        with self.lock:
            self._faults.outage = outage

    def set_rate_limits(
        self, enabled: bool, limits: Mapping[str, tuple[int, int]] | None = None
    ) -> None:
        limiter = RateLimiter(limits) if limits is not None else None
        with self.lock:
            self._rate_limits = enabled
            if limiter is not None:
                self._limiter = limiter

    def set_retry_after(self, enabled: bool) -> None:
        with self.lock:
            self._retry_after = enabled

    def reset(self) -> None:
        """Forget everything seen, clear faults, restore the constructor's settings."""
        with self.lock:
            self.recorder.reset()
            self.batches.reset()
            self._limiter = RateLimiter(self._initial_limits)
            self._faults.clear()
            self._latency, self._rate_limits, self._retry_after = self._defaults

    def faults(self) -> dict[str, Any]:
        with self.lock:
            return {
                "latency_ms": self._latency * 1000,
                "outage": self._faults.outage,
                "script_pending": self._faults.pending(),
                "rate_limits": self._rate_limits,
                "retry_after": self._retry_after,
                "limits": self._limiter.limits,
                **self.batches.settings(),
            }

    # Every reader first completes the batch jobs that fell due, so that what it sees is what
    # a timer would have produced by now.

    def received(self, resource: str | None = None, since: int = 0) -> list[ReceivedRequest]:
        with self.lock:
            self.batches.advance(time.monotonic())
            return self.recorder.received(resource, since)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            self.batches.advance(time.monotonic())
            return self.recorder.stats() | self.batches.stats()

    def accepted_count(self, resource: str | None = None) -> int:
        with self.lock:
            self.batches.advance(time.monotonic())
            return self.recorder.accepted_count(resource)

    def batch_jobs(self) -> list[BatchJob]:
        with self.lock:
            now = time.monotonic()
            self.batches.advance(now)
            return self.batches.jobs(now)

    # serving ------------------------------------------------------------------------------

    def protocol_error(self, status: int, message: str) -> Reply:
        return replies.error(status, 4000 if status < 500 else 5000, message)

    def handle(self, request: Request) -> Reply:
        path, _, query = request.target.partition("?")
        found = endpoints.match(path)
        batch: BatchRoute | None = None
        params: Mapping[str, str] = {}
        if found is not None:
            endpoint = found.for_method(request.method)
            if endpoint is None:
                return replies.error(405, 4000, "Method not allowed", (("allow", found.methods),))
            version, resource, params = found.version, endpoint.name, found.params
        else:
            if path.startswith(_CONTROL_PREFIX):
                return control(self, request, path[len(_CONTROL_PREFIX) :], query)
            batch = parse_route(path, VERSIONS)
            if batch is None:
                return replies.error(404, 4004, f"No such endpoint: {path}")
            if request.method != batch.method:
                return replies.error(405, 4000, "Method not allowed", (("allow", batch.method),))
            version, resource = batch.version, "batches"
        with self.lock:
            now = time.monotonic()
            self.batches.advance(now)
            reply = self._serve(request, version, resource, path, now, batch, params)
            recorder = self.recorder
            recorder.total_requests += 1
            recorder.requests[resource] += 1
            if reply.drop:
                recorder.dropped += 1
            else:
                recorder.statuses[reply.status] += 1
        return reply

    def _serve(
        self,
        request: Request,
        version: str,
        resource: str,
        path: str,
        now: float,
        batch: BatchRoute | None,
        params: Mapping[str, str],
    ) -> Reply:
        delay = self._latency
        step = self._faults.take(resource)
        if step is not None:
            if step.delay_ms is not None:
                delay = step.delay_ms / 1000
            if not step.passes:
                reply = self._fault(step)
                reply.delay = delay
                return reply
        reply = self._process(request, version, resource, path, delay, now, batch, params)
        reply.delay = delay
        return reply

    def _fault(self, step: FaultStep) -> Reply:
        if step.drop:
            return Reply(0, drop=True)
        status = step.status
        headers: tuple[tuple[str, str], ...] = ()
        if status == 429:
            self.recorder.rate_limited += 1
            if step.retry_after is not None:
                headers = replies.retry_after_header(step.retry_after)
            elif self._retry_after:
                headers = replies.retry_after_header(1)
        elif step.retry_after is not None:
            headers = replies.retry_after_header(step.retry_after)
        code = step.code if step.code is not None else replies.default_code(status)
        return replies.error(status, code, step.message, headers)

    def _process(
        self,
        request: Request,
        version: str,
        resource: str,
        path: str,
        delay: float,
        now: float,
        batch: BatchRoute | None,
        params: Mapping[str, str],
    ) -> Reply:
        headers = request.headers
        if headers.get("apikey") != self._api_key:
            return replies.error(401, 1000)
        secret = self._secret_key
        if (
            secret is not None
            and (version == "v4.1" or resource in _SECRET_RESOURCES)
            and headers.get("secretkey") != secret
        ):
            return replies.error(401, 1001)
        if self._rate_limits:
            wait = self._limiter.acquire(BUCKETS[resource], now)
            if wait > 0:
                self.recorder.rate_limited += 1
                extra = replies.retry_after_header(wait) if self._retry_after else ()
                return replies.error(429, 429, None, extra)
        if batch is not None:
            return self.batches.serve(batch, path, request.body, now)
        description = endpoints.BY_NAME[resource].description
        if description.has_body:
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError as exc:
                return replies.error(400, 3016, f"Invalid JSON payload: {exc}")
            if not isinstance(body, dict):
                return replies.error(400, 3016, "The payload must be a JSON object")
        else:
            body = {}  # a call without a body (DELETE customers/{customerId})
        recorder = self.recorder
        customer = params.get(description.customer, body.get(description.customer))
        held = self.batches.holds(customer)
        problem = admit(recorder, resource, path, version, body, params=params, overlapping=held)
        if problem is not None:
            return replies.error(problem.status, problem.code, problem.message)
        customer_id = customer_of(resource, body, params)
        reply = self._success(resource, customer_id, body)
        if delay > 0:
            token = recorder.hold(customer_id)
            reply.on_done = partial(self._release, customer_id, token)
        return reply

    def _success(self, resource: str, customer_id: str, body: dict[str, Any]) -> Reply:
        if resource == "events":
            return Reply(200, replies.EVENTS_ACCEPTED)
        if resource == "customers":
            return replies.json_reply({"gameballId": self.recorder.gameball_id(customer_id)})
        if resource in ("orders", "payments"):
            return replies.json_reply(
                {"customerId": customer_id, "redeemedPoints": 0, "rewardedPoints": reward(body)}
            )
        if resource == "refund":  # the spec's answer
            refund_id = body["refundTransactionId"]
            return replies.json_reply(
                {
                    "gameballTransactionId": str(self.recorder.accepted_count()),
                    "refundTransactionId": refund_id,
                    "refundAmount": body.get("refundAmount"),
                    "refundEquivalentPoints": self.recorder.ledger.refunded_points(refund_id),
                }
            )
        return replies.json_reply({"success": True})

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """What the emulator holds of a customer (balance, tags), or None: never seen, or
        erased."""
        with self.lock:
            self.batches.advance(time.monotonic())
            state = self.recorder.ledger.customer(customer_id)
            return state.as_json() if state is not None else None

    def _release(self, customer_id: str, token: int) -> None:
        with self.lock:
            # Jobs that fell due while this call was in flight see the customer held.
            self.batches.advance(time.monotonic())
            self.recorder.release(customer_id, token)

    def configure(self, settings: object) -> None:
        """Apply a /_emulator/faults body; every key is optional. Validated before any of
        it is applied, so a bad request changes nothing."""
        if not isinstance(settings, dict):
            raise ValueError("the faults body must be a JSON object")
        unknown = set(settings) - _FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        latency = settings.get("latency_ms")
        latency_s = _latency_seconds(latency) if latency is not None else None
        outage = parse_outage(settings["outage"]) if "outage" in settings else None
        scope = settings.get("script_resource")
        if scope is not None and scope not in _SCOPES:
            raise ValueError(f"unknown resource: {scope!r}")
        steps = settings.get("script")
        if steps is not None and not isinstance(steps, list):
            raise ValueError("'script' must be a list")
        parsed = [FaultStep.parse(step) for step in steps] if steps is not None else None
        toggles = {}
        for key in ("rate_limits", "retry_after"):
            if key in settings:
                if not isinstance(settings[key], bool):
                    raise ValueError(f"'{key}' must be a boolean")
                toggles[key] = settings[key]
        limiter = None
        if settings.get("limits") is not None:
            limits = settings["limits"]
            if not isinstance(limits, dict):
                raise ValueError("'limits' must map resource to [per_second, per_30s]")
            limiter = RateLimiter(merge_limits({r: _pair(v) for r, v in limits.items()}))
        batch_settings = BatchSettings.parse(settings)
        with self.lock:
            if latency_s is not None:
                self._latency = latency_s
            if "outage" in settings:
                self._faults.outage = outage
            if parsed is not None:
                self._faults.script(parsed, scope)
            self._rate_limits = toggles.get("rate_limits", self._rate_limits)
            self._retry_after = toggles.get("retry_after", self._retry_after)
            if limiter is not None:
                self._limiter = limiter
            self.batches.configure(batch_settings)


def _latency_seconds(latency_ms: object) -> float:
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) or latency_ms < 0:
        raise ValueError("latency_ms must be a non-negative number")
    return float(latency_ms) / 1000


def _pair(value: object) -> tuple[int, int]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("each limit is [per_second, per_30s]")
    return (value[0], value[1])
