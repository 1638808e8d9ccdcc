"""The /_emulator/ control endpoints: stats, received requests, batch jobs, a customer's balance
and tags, faults, reset.

No auth: they exist for tests and demos on loopback. They go through the router's public,
locked methods, like the Python API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

import orjson

from . import replies
from .jobs import BatchJob
from .protocol import Reply, Request
from .state import RESOURCES, ReceivedRequest


class Controlled(Protocol):
    """What the control endpoints ask of the emulator (the router's public, locked methods):
    said here, so that this module needs nothing of the router's (no import circle)."""

    def stats(self) -> dict[str, Any]: ...
    def received(self, resource: str | None = None, since: int = 0) -> list[ReceivedRequest]: ...
    def batch_jobs(self) -> Sequence[BatchJob]: ...
    def customer(self, customer_id: str) -> dict[str, Any] | None: ...
    def faults(self) -> dict[str, Any]: ...
    def configure(self, settings: object) -> None: ...
    def reset(self) -> None: ...


def control(router: Controlled, request: Request, name: str, query: str) -> Reply:
    method = request.method
    if name == "health" and method == "GET":
        return replies.json_reply({"ok": True})
    if name == "stats" and method == "GET":
        return replies.json_reply(router.stats())
    if name == "received" and method == "GET":
        return _received(router, query)
    if name == "batches" and method == "GET":
        return replies.json_reply([job.as_json() for job in router.batch_jobs()])
    if name == "faults" and method == "GET":
        return replies.json_reply(router.faults())
    if name == "faults" and method == "POST":
        return _faults(router, request.body)
    if name.startswith("customers/") and method == "GET":
        state = router.customer(unquote(name.removeprefix("customers/")))
        if state is None:
            return replies.error(404, 7000, "Customer not found")
        return replies.json_reply(state)
    if name == "reset" and method == "POST":
        router.reset()
        return replies.json_reply({"reset": True})
    return replies.error(404, 4004, f"No such control endpoint: {method} /_emulator/{name}")


def _received(router: Controlled, query: str) -> Reply:
    params = parse_qs(query)
    resource = params.get("resource", [None])[-1]
    if resource is not None and resource not in RESOURCES:
        return replies.error(400, 4000, f"unknown resource: {resource!r}")
    since_text = params.get("since", ["0"])[-1]
    if not since_text.isdigit():
        return replies.error(400, 4000, "'since' must be a non-negative integer")
    rows = router.received(resource, int(since_text))
    return replies.json_reply([row.as_json() for row in rows])


def _faults(router: Controlled, raw: bytes) -> Reply:
    try:
        settings = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        return replies.error(400, 3016, f"Invalid JSON payload: {exc}")
    try:
        router.configure(settings)
    except (ValueError, TypeError) as exc:
        return replies.error(400, 4000, str(exc))
    return replies.json_reply(router.faults())
