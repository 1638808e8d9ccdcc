"""A batch job as data, and the ways it reads: the spec's and the tutorial's status bodies,
and the snapshot tests get (`BatchJob`). What happens to jobs is in `batches.py`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

_STATUS_NAMES = {
    "pending": "Queued",
    "processing": "InProgress",
    "completed": "Completed",
    "failed": "Failed",
}
_PROGRESS = {"pending": 0, "processing": 50, "completed": 100, "failed": 100}


class Job:
    __slots__ = (
        "conflicts",
        "created_at",
        "customers",
        "errors",
        "fate",
        "halfway",
        "id",
        "items",
        "path",
        "resource",
        "status",
        "successes",
        "total",
        "version",
    )

    def __init__(
        self, job_id: int, resource: str, version: str, path: str, items: list[Any]
    ) -> None:
        self.id = job_id
        self.resource = resource
        self.version = version
        self.path = path
        self.items = items
        self.total = len(items)
        self.created_at = time.time()
        self.fate = "normal"  # "normal" | "fail" | "hang" (injected)
        self.halfway = 0.0  # monotonic time from which it shows `processing`
        self.status: str | None = None  # "completed" | "failed" once finished
        self.customers: set[str] = set()  # held while it is unfinished
        self.conflicts: set[int] = set()  # indexes of items that will get 2001
        self.successes: list[int] = []
        self.errors: list[tuple[int, int, str, int]] = []  # index, code, message, httpStatus

    def phase(self, now: float) -> str:
        if self.status is not None:
            return self.status
        return "processing" if self.fate == "hang" or now >= self.halfway else "pending"


def spec_status(job: Job, now: float, *, combined: bool = False) -> dict[str, Any]:
    """GET /batches/{id}/status, as Gameball's OpenAPI spec draws it; `combined`: every item
    under "results", each with its own outcome, and "errors" empty."""
    phase = job.phase(now)
    if combined:
        outcomes: list[tuple[int, dict[str, Any]]] = [
            (i, {"index": i, "success": True}) for i in job.successes
        ]
        outcomes += [
            (
                i,
                {
                    "index": i,
                    "success": False,
                    "error": {"code": code, "message": message},
                    "httpStatus": status,
                },
            )
            for i, code, message, status in job.errors
        ]
        return {
            "batchId": str(job.id),
            "status": phase,
            "progress": _PROGRESS[phase],
            "totalItems": job.total,
            "processedItems": len(outcomes),
            "failedItems": len(job.errors),
            "results": [entry for _, entry in sorted(outcomes, key=lambda pair: pair[0])],
            "errors": [],
        }
    return {
        "batchId": str(job.id),
        "status": phase,
        "progress": _PROGRESS[phase],
        "totalItems": job.total,
        "processedItems": len(job.successes) + len(job.errors),
        "failedItems": len(job.errors),
        "results": [{"index": i, "status": "success"} for i in job.successes],
        "errors": [
            {"index": i, "code": code, "message": message, "httpStatus": status}
            for i, code, message, status in job.errors
        ],
    }


def tutorial_status(job: Job, now: float) -> dict[str, Any]:
    """GET /batch/{id}, as Gameball's batch tutorial draws it."""
    return {
        "jobId": job.id,
        "jobStatus": _STATUS_NAMES[job.phase(now)],
        "successfulItems": [{"itemIndex": i} for i in job.successes],
        "failedItems": [
            {"itemIndex": i, "error": {"code": code, "message": message}, "statusCode": status}
            for i, code, message, status in job.errors
        ],
    }


@dataclass(frozen=True, slots=True)
class BatchItemError:
    index: int
    code: int
    message: str
    http_status: int

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "code": self.code,
            "message": self.message,
            "httpStatus": self.http_status,
        }


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A job as it stands, for tests (`GameballEmulator.batch_jobs()`)."""

    job_id: int
    resource: str
    api_version: str
    status: str  # "pending" | "processing" | "completed" | "failed"
    total_items: int
    # As received; () once the job finished when the emulator does not record bodies.
    items: tuple[Any, ...]
    succeeded: tuple[int, ...]  # item indexes
    errors: tuple[BatchItemError, ...]
    created_at: float  # time.time()

    def as_json(self) -> dict[str, Any]:
        """For GET /_emulator/batches: everything but the items."""
        return {
            "jobId": self.job_id,
            "resource": self.resource,
            "apiVersion": self.api_version,
            "status": self.status,
            "totalItems": self.total_items,
            "succeeded": list(self.succeeded),
            "errors": [error.as_json() for error in self.errors],
            "createdAt": self.created_at,
        }


def snapshot(job: Job, now: float) -> BatchJob:
    return BatchJob(
        job_id=job.id,
        resource=job.resource,
        api_version=job.version,
        status=job.phase(now),
        total_items=job.total,
        items=tuple(job.items),
        succeeded=tuple(job.successes),
        errors=tuple(BatchItemError(*error) for error in job.errors),
        created_at=job.created_at,
    )
