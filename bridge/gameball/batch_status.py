"""Reading a batch job's status, whichever of Gameball's two documented designs answers.

    spec:      GET batches/{id}/status -> {"batchId", "status": pending|processing|completed|
               failed, "results": [{"index", ...}], "errors": [{"index", "code", "message",
               "httpStatus"}], ...}
    tutorial:  GET batch/{id} -> {"jobId", "jobStatus": Queued|InProgress|Completed|Failed,
               "successfulItems": [{"itemIndex"}], "failedItems": [{"itemIndex", "error":
               {"code", "message"}, "statusCode"}]}

The docs disagree on paths, field names and states (API.md: "parse it tolerantly"), so the
parser looks for each fact under every name either design uses, and for the job's state under
any of the words for it. An item's outcome is known only where an answer names it: in a
completed job, an item in neither list is a success when the answer lists failures only, and
unknown otherwise (the caller sends it again rather than guess).

Pure: bytes in, a `JobStatus` out, so both shapes and every item outcome are unit-tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson


class JobState(StrEnum):
    PENDING = "pending"  # queued or processing: ask again later
    COMPLETED = "completed"  # finished: every item has an outcome (or is unknown)
    FAILED = "failed"  # failed as a whole: none of its items is known to have landed


_STATES = {
    **dict.fromkeys(
        ("pending", "queued", "processing", "inprogress", "running", "started", "created"),
        JobState.PENDING,
    ),
    **dict.fromkeys(
        ("completed", "complete", "done", "finished", "succeeded", "success", "processed"),
        JobState.COMPLETED,
    ),
    **dict.fromkeys(
        ("failed", "failure", "error", "errored", "cancelled", "canceled", "stopped", "aborted"),
        JobState.FAILED,
    ),
}
# The most specific name first: an answer may carry both a job state and an HTTP-ish "status".
_STATE_KEYS = ("jobStatus", "jobState", "status", "state")
_SUCCESS_KEYS = ("results", "successfulItems", "succeededItems", "successItems", "succeeded")
_FAILURE_KEYS = ("errors", "failedItems", "failures", "failed")
_INDEX_KEYS = ("index", "itemIndex", "position", "itemPosition")
_STATUS_KEYS = ("httpStatus", "statusCode", "status_code", "httpStatusCode")
# Item failures that name only a Gameball code: the HTTP status the single call answers with.
_STATUS_OF_CODE = {
    1000: 401,
    1001: 401,
    1002: 403,
    2000: 412,
    2001: 422,
    3001: 422,
    3003: 422,
    3006: 422,
    3011: 422,
    3013: 415,
    4004: 404,
    5000: 500,
    5003: 503,
    6000: 422,
    7000: 404,
    9004: 422,
}


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """Gameball refused one item: its HTTP status (as the single call would answer), its
    Gameball code and message."""

    status: int
    code: int | None
    message: str


@dataclass(frozen=True, slots=True)
class JobStatus:
    state: JobState
    # Item index -> None (accepted) or its failure; a completed job's items missing here
    # have no known outcome.
    items: Mapping[int, ItemFailure | None] = field(default_factory=dict)
    message: str = ""  # why the job failed, when it says

    def outcome(self, index: int) -> ItemFailure | bool | None:
        """The item's failure, None when it was accepted, or False when nothing is known."""
        return self.items.get(index, False)


class UnreadableStatus(ValueError):
    """The answer is not a job status in either design."""


def parse_status(body: bytes, item_count: int) -> JobStatus:
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UnreadableStatus(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UnreadableStatus(f"expected an object, got {type(doc).__name__}")
    # Some designs wrap the answer: {"data": {...}} or {"response": {...}}.
    for wrapper in ("data", "response", "result", "job"):
        inner = doc.get(wrapper)
        if isinstance(inner, dict) and _job_state(inner) is not None:
            doc = inner
            break
    state = _job_state(doc)
    if state is None:
        raise UnreadableStatus(f"no job state in keys {sorted(doc)[:10]}")
    message = doc.get("message") or doc.get("error") or ""
    if state is not JobState.COMPLETED:
        return JobStatus(state, message=str(message)[:500] if state is JobState.FAILED else "")
    failures = _first(doc, _FAILURE_KEYS)
    successes = _first(doc, _SUCCESS_KEYS)
    items: dict[int, ItemFailure | None] = {}
    if isinstance(successes, list):
        for entry in successes:
            index = _index(entry, item_count)
            if index is not None:
                items[index] = None
    elif isinstance(failures, list):
        # Only failures are listed: every other item was accepted.
        items = dict.fromkeys(range(item_count))
    if isinstance(failures, list):
        for entry in failures:
            index = _index(entry, item_count)
            if index is not None:
                items[index] = _failure(entry)
    return JobStatus(state, items)


def _first(doc: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in doc:
            return doc[key]
    return None


def _job_state(doc: Mapping[str, Any]) -> JobState | None:
    """The state under the first of the state keys whose value names one (a numeric
    "status" next to a "jobStatus" is not the job's state)."""
    for key in _STATE_KEYS:
        value = doc.get(key)
        if isinstance(value, str):
            state = _STATES.get(value.replace("_", "").replace("-", "").replace(" ", "").lower())
            if state is not None:
                return state
    return None


def _index(entry: Any, item_count: int) -> int | None:
    value = _first(entry, _INDEX_KEYS) if isinstance(entry, dict) else entry
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < item_count:
        return value
    return None


def _failure(entry: Any) -> ItemFailure:
    if not isinstance(entry, dict):
        return ItemFailure(400, None, "failed (the status gives no reason)")
    error = entry.get("error")
    details = error if isinstance(error, dict) else entry
    code = _int(details.get("code", details.get("errorCode", entry.get("code"))))
    message = details.get("message", entry.get("message", error if isinstance(error, str) else ""))
    status = _int(_first(entry, _STATUS_KEYS)) or _int(_first(details, _STATUS_KEYS))
    if status is None or not 100 <= status <= 599:
        status = _STATUS_OF_CODE.get(code, 400) if code is not None else 400
    return ItemFailure(status, code, str(message or "")[:500])


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
