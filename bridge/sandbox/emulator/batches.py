"""Gameball's batch API (beta): a job is created in one call, applied later, read by status calls.

The contract, as served (the bridge's batch client is written against exactly this):

Create: POST /api/{v4.0|v4.1}/integrations/batch/{events|orders|customers}, both keys (the
secretkey whenever the emulator has one), body `{"body": [item, ...]}` with each item shaped
like that resource's single-call body. Answers, in the order they are checked:
  body over 10 MiB                          413 {"code": 3016, ...}
  not JSON                                  400 {"code": 3016, ...}
  not an object whose "body" is a list      400 {"code": 3000, ...}
  0 items, or more than 1,000               400 {"code": 3016, "message": "... 1 to 1,000 ..."}
  otherwise, at once                        200 {"jobId": 1}  (1, 2, 3, ...; from 1 after a reset)
Items are not looked at before the job completes.

Processing: a job is `pending` for the first half of the batch delay (`batch_delay_ms`, 200 by
default), `processing` for the second, then completes: its items, in body order, go through
exactly a single call's checks and bookkeeping (`admission.admit`: validation, 2001, 9004,
the order check, recorded as received with `via_batch=<jobId>`, counted as accepted), each
ending `success` or failed with {code, message, httpStatus}. Two items of one customer in one
job are applied in order (counted in `batch_same_customer_items`). An item fails with 2001
(httpStatus 422, counted in `overlap_violations`) when, at completion, its customer has a
single call in flight, or when its customer was in another unfinished job at the moment this
job was created (the earlier job keeps the customer, as the earlier of two single calls does).
Jobs are advanced whenever the emulator is asked anything, so their outcome is what a timer
would have produced, without one.

Status, two shapes of the same job, both keys; unknown id: 404 {"code": 4004, ...}:
  GET /api/{v}/integrations/batches/{id}/status  (the spec)
    {"batchId": "1", "status": "pending"|"processing"|"completed"|"failed", "progress": 0|50|100,
     "totalItems": n, "processedItems": n, "failedItems": n,
     "results": [{"index": 0, "status": "success"}, ...],
     "errors": [{"index": 1, "code": 3000, "message": "...", "httpStatus": 400}, ...]}
  GET /api/{v}/integrations/batch/{id}  (the tutorial)
    {"jobId": 1, "jobStatus": "Queued"|"InProgress"|"Completed"|"Failed",
     "successfulItems": [{"itemIndex": 0}, ...],
     "failedItems": [{"itemIndex": 1, "error": {"code": 3000, "message": "..."},
                      "statusCode": 400}, ...]}
  with `batch_status_items: "combined"`, the spec's call lists every item under "results",
  each saying its own outcome, and "errors" stays empty (a shape the docs allow):
     "results": [{"index": 0, "success": true}, {"index": 1, "success": false,
                  "error": {"code": 3000, "message": "..."}, "httpStatus": 400}, ...],
     "errors": []
A failed job (injected, or stopped) lists no items: none of them was applied.
Stop: POST /api/{v}/integrations/batches/{id}/stop, both keys: an unfinished job ends `failed`
with nothing applied; 200 {"batchId": "1", "status": "failed", "message": "..."}.

Every batch call (create, status, stop) counts in Gameball's "others" rate-limit bucket, which
payments share; latency, scripts (scope "batches") and outages apply as to any call.

Batch faults (`GameballEmulator` methods, or the same keys in a /_emulator/faults body):
`batch_delay_ms` (for jobs created from then on), `batch_status_items` ("split", the default,
or "combined": how the spec's status call lists items), `batch_item_faults` (rules failing items at
completion, before validation: `faults.ItemFault`), `fail_next_batches` N (the next N jobs end
`failed`), `hang_next_batches` N (the next N jobs stay `processing` until stopped or reset;
they hold their customers meanwhile). An item that is not an object fails 400/3016.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from . import replies
from .admission import admit
from .faults import BATCH_RESOURCES, BatchFaults, ItemFault, job_count
from .jobs import BatchJob, Job, snapshot, spec_status, tutorial_status
from .protocol import Reply
from .state import Recorder
from .validation import Problem

MAX_ITEMS = 1000
MAX_BATCH_BYTES = 10 * 1024 * 1024


class BatchRoute(NamedTuple):
    version: str
    action: str  # "create" | "status" | "job" (the tutorial's status) | "stop"
    target: str  # the resource for "create", else the job id as written in the path
    method: str  # the one method the route answers


def parse_route(path: str, versions: tuple[str, ...]) -> BatchRoute | None:
    """The batch endpoint `path` names, or None when it names none."""
    parts = path.split("/")
    # "", "api", version, "integrations", "batch"|"batches", ...
    if len(parts) < 6 or parts[1] != "api" or parts[2] not in versions:
        return None
    if parts[3] != "integrations":
        return None
    version, kind, rest = parts[2], parts[4], parts[5:]
    if kind == "batch" and len(rest) == 1:
        if rest[0] in BATCH_RESOURCES:
            return BatchRoute(version, "create", rest[0], "POST")
        if rest[0].isascii() and rest[0].isdigit():
            return BatchRoute(version, "job", rest[0], "GET")
    if kind == "batches" and len(rest) == 2 and rest[0]:
        if rest[1] == "status":
            return BatchRoute(version, "status", rest[0], "GET")
        if rest[1] == "stop":
            return BatchRoute(version, "stop", rest[0], "POST")
    return None


# The keys of a /_emulator/faults body (and `GameballEmulator.configure`) that set these.
BATCH_SETTINGS = frozenset(
    {
        "batch_delay_ms",
        "batch_item_faults",
        "batch_status_items",
        "fail_next_batches",
        "hang_next_batches",
    }
)
STATUS_ITEMS = ("split", "combined")


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """The batch keys of a faults body, validated; None leaves a setting as it is."""

    delay: float | None = None  # seconds
    item_faults: tuple[ItemFault, ...] | None = None  # () clears them
    fail_next: int | None = None
    hang_next: int | None = None
    status_items: str | None = None  # "split" | "combined"

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> BatchSettings:
        delay = settings.get("batch_delay_ms")
        faults = settings.get("batch_item_faults")
        if faults is not None and not isinstance(faults, list):
            raise ValueError("'batch_item_faults' must be a list")
        status_items = settings.get("batch_status_items")
        if status_items is not None and status_items not in STATUS_ITEMS:
            raise ValueError(f"'batch_status_items' must be one of {list(STATUS_ITEMS)}")
        fail_next, hang_next = (
            job_count(settings[key], key) if settings.get(key) is not None else None
            for key in ("fail_next_batches", "hang_next_batches")
        )
        return cls(
            delay=delay_seconds(delay) if delay is not None else None,
            item_faults=tuple(ItemFault.parse(f) for f in faults) if faults is not None else None,
            fail_next=fail_next,
            hang_next=hang_next,
            status_items=status_items,
        )


class Batches:
    """The jobs and their bookkeeping. Not thread-safe by itself; the router calls it under
    its lock, and calls `advance` before anything else so that due jobs complete first."""

    def __init__(self, recorder: Recorder, delay: float) -> None:
        self._recorder = recorder
        self._default_delay = delay
        self.faults = BatchFaults()
        self.reset()

    def reset(self) -> None:
        self.delay = self._default_delay  # seconds from creation to completion
        self.status_items = "split"
        self.faults.clear()
        self._jobs: dict[int, Job] = {}
        self._due: list[tuple[float, int]] = []  # heap of (completion time, job id)
        self._busy: Counter[str] = Counter()  # customer -> unfinished jobs holding it
        self._unfinished = 0
        self.jobs_created = 0
        self.jobs_failed = 0
        self.items_received = 0
        self.items_applied = 0
        self.items_failed = 0
        self.same_customer_items = 0
        self.status_calls = 0

    def configure(self, settings: BatchSettings) -> None:
        faults = self.faults
        if settings.delay is not None:
            self.delay = settings.delay  # for jobs created from now on
        if settings.item_faults is not None:
            faults.set_item_faults(settings.item_faults)
        if settings.fail_next is not None:
            faults.fail_next = settings.fail_next
        if settings.hang_next is not None:
            faults.hang_next = settings.hang_next
        if settings.status_items is not None:
            self.status_items = settings.status_items

    def settings(self) -> dict[str, Any]:
        return {
            "batch_delay_ms": self.delay * 1000,
            "batch_item_faults": self.faults.item_faults(),
            "fail_next_batches": self.faults.fail_next,
            "hang_next_batches": self.faults.hang_next,
            "batch_status_items": self.status_items,
        }

    # time passing -------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Complete every job due by `now`, in the order they fell due."""
        due = self._due
        while due and due[0][0] <= now:
            _, job_id = heapq.heappop(due)
            job = self._jobs.get(job_id)
            if job is not None and job.status is None:  # not stopped meanwhile
                self._complete(job)

    def _complete(self, job: Job) -> None:
        self._finish(job)
        if job.fate == "fail":
            job.status = "failed"
            self.jobs_failed += 1
            return
        recorder = self._recorder
        faults = self.faults if self.faults.has_item_faults else None
        resource, path, version, conflicts = job.resource, job.path, job.version, job.conflicts
        successes, errors = job.successes, job.errors
        for index, item in enumerate(job.items):
            problem: Problem | None
            if not isinstance(item, dict):
                problem = Problem(400, 3016, "A batch item must be a JSON object")
            elif faults is not None and (fault := faults.item_fault(resource, item)) is not None:
                problem = _injected(fault)
            else:
                problem = admit(
                    recorder,
                    resource,
                    path,
                    version,
                    item,
                    overlapping=index in conflicts,
                    via_batch=job.id,
                )
            if problem is None:
                successes.append(index)
            else:
                errors.append((index, problem.code, problem.message, problem.status))
        self.items_applied += len(successes)
        self.items_failed += len(errors)
        job.status = "completed"
        if not recorder.record_bodies:
            job.items = []

    def _finish(self, job: Job) -> None:
        self._unfinished -= 1
        busy = self._busy
        for customer in job.customers:
            busy[customer] -= 1
            if not busy[customer]:
                del busy[customer]

    # the endpoints ------------------------------------------------------------------------

    def serve(self, route: BatchRoute, path: str, body: bytes, now: float) -> Reply:
        if route.action == "create":
            return self._create(route, path, body, now)
        target = route.target
        job = self._jobs.get(int(target)) if target.isascii() and target.isdigit() else None
        if route.action == "stop":
            return self._stop(job, route.target)
        self.status_calls += 1
        if job is None:
            return replies.error(404, 4004, f"No batch job {route.target}")
        if route.action == "status":
            return replies.json_reply(
                spec_status(job, now, combined=self.status_items == "combined")
            )
        return replies.json_reply(tutorial_status(job, now))

    def _create(self, route: BatchRoute, path: str, body: bytes, now: float) -> Reply:
        if len(body) > MAX_BATCH_BYTES:
            return replies.error(413, 3016, "A batch body is at most 10 MiB")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return replies.error(400, 3016, f"Invalid JSON payload: {exc}")
        items = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            return replies.error(400, 3000, 'The payload must be an object with a list "body"')
        if not 1 <= len(items) <= MAX_ITEMS:
            message = f"A batch holds 1 to {MAX_ITEMS:,} items, not {len(items):,}"
            return replies.error(400, 3016, message)
        self.jobs_created += 1
        self.items_received += len(items)
        job = Job(self.jobs_created, route.target, route.version, path, items)
        self._claim_customers(job)
        job.fate = self.faults.fate()
        self._jobs[job.id] = job
        self._unfinished += 1
        if job.fate != "hang":
            job.halfway = now + self.delay / 2
            heapq.heappush(self._due, (now + self.delay, job.id))
        return replies.json_reply({"jobId": job.id})

    def holds(self, customer_id: object) -> bool:
        """Whether an unfinished job has an item of this customer (a single call for it is
        then a 2001, as an item of a later job is)."""
        return isinstance(customer_id, str) and customer_id in self._busy

    def _claim_customers(self, job: Job) -> None:
        """Note the job's customers, the items whose customer another unfinished job holds
        (2001 at completion), and repeated customers within the job."""
        busy = self._busy
        seen = job.customers
        clashing: set[str] = set()
        for index, item in enumerate(job.items):
            customer = item.get("customerId") if isinstance(item, dict) else None
            if not isinstance(customer, str):
                continue  # refused by validation at completion
            if customer in seen:
                self.same_customer_items += 1
            else:
                seen.add(customer)
                if customer in busy:
                    clashing.add(customer)
            if customer in clashing:
                job.conflicts.add(index)
        for customer in seen:
            busy[customer] += 1

    def _stop(self, job: Job | None, target: str) -> Reply:
        if job is None:
            return replies.error(404, 4004, f"No batch job {target}")
        message = "The batch job had already finished"
        if job.status is None:
            self._finish(job)
            job.status = "failed"
            self.jobs_failed += 1
            message = "The batch job was stopped; none of its items was applied"
        reply = {"batchId": str(job.id), "status": job.status, "message": message}
        return replies.json_reply(reply)

    # reading ------------------------------------------------------------------------------

    def jobs(self, now: float) -> list[BatchJob]:
        return [snapshot(job, now) for job in self._jobs.values()]

    def stats(self) -> dict[str, Any]:
        return {
            "batch_jobs_created": self.jobs_created,
            "batch_jobs_unfinished": self._unfinished,
            "batch_jobs_failed": self.jobs_failed,
            "batch_items_received": self.items_received,
            "batch_items_applied": self.items_applied,
            "batch_items_failed": self.items_failed,
            "batch_same_customer_items": self.same_customer_items,
            "batch_status_calls": self.status_calls,
        }


def _injected(fault: ItemFault) -> Problem:
    code = fault.code if fault.code is not None else replies.default_code(fault.status)
    return Problem(fault.status, code, fault.message or replies.default_message(code))


def delay_seconds(delay_ms: object) -> float:
    if (
        isinstance(delay_ms, bool)
        or not isinstance(delay_ms, int | float)
        or not math.isfinite(delay_ms)
        or delay_ms < 0
    ):
        raise ValueError("batch_delay_ms must be a non-negative number")
    return float(delay_ms) / 1000
