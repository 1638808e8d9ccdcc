"""Reading a batch job's status, whichever shape answers, so that it fails safe.

    spec:      GET batches/{id}/status -> {"batchId", "status": pending|processing|completed|
               failed, "totalItems", "processedItems", "failedItems", "results": [...],
               "errors": [{"index", "code", "message", "httpStatus"}], ...}
    tutorial:  GET batch/{id} -> {"jobId", "jobStatus": Queued|InProgress|Completed|Failed,
               "successfulItems": [{"itemIndex"}], "failedItems": [{"itemIndex", "error":
               {"code", "message"}, "statusCode"}]}
    combined:  the spec's, with every item under "results", each saying its own outcome
               ({"index", "success": false, "error": {...}}) and "errors" empty

The docs fix neither the paths, the field names nor the item lists (API.md: "parse it
tolerantly"), so the reader looks for each fact under every name the designs use. Tolerance
fails safe: an item counts as delivered only where the answer says so positively, and
anything less is not known to have landed (the caller sends it again: a possible duplicate,
never a loss). In order:

1. An entry that shows a failure anywhere is a failure: a success flag that is false, an
   error object, list or code, a failed state, an HTTP status outside 2xx. Failure wins
   over any success sign in the same entry.
2. An entry is a success only when it says so (a true success flag, a success state, a 2xx
   status) or stands in a list whose name says so (`successfulItems`, ...). An entry of a
   neutral list (`results`, `items`) that says nothing is unknown.
3. An item no entry names is a success only when the job's counts account for it: it says
   how many failed, that number of failures was read, and it says every item was processed.
4. Counts that contradict what was read (another total, more successes than it counts,
   fewer failures read than it counts) leave every item that is not a failure unknown.
5. An item named both a success and a failure is a failure.

Pure: bytes in, a `JobStatus` out, so every shape and every item outcome is unit-tested
(tests/unit/gameball/test_batch_status.py, with a property test of rule 2).
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


_PENDING_WORDS = ("pending", "queued", "processing", "inprogress", "running", "started")
_COMPLETED_WORDS = (
    "completed",
    "complete",
    "done",
    "finished",
    "processed",
    # A job that finished with some items refused: its items say which.
    "completedwitherrors",
    "partiallycompleted",
    "partiallysucceeded",
    "partial",
)
_FAILED_WORDS = (
    "failed",
    "failure",
    "error",
    "errored",
    "cancelled",
    "canceled",
    "stopped",
    "aborted",
)
_STATES = {
    **dict.fromkeys((*_PENDING_WORDS, "created"), JobState.PENDING),
    **dict.fromkeys((*_COMPLETED_WORDS, "succeeded", "success"), JobState.COMPLETED),
    **dict.fromkeys(_FAILED_WORDS, JobState.FAILED),
}
# What an item's own state word means. An item "completed" or "processed" says it was
# looked at, not that it was accepted: neither a success nor a failure.
_ITEM_SUCCESS_WORDS = frozenset(
    {"success", "succeeded", "successful", "ok", "accepted", "applied", "created", "updated"}
)
_ITEM_FAILURE_WORDS = frozenset(
    {*_FAILED_WORDS, "rejected", "invalid", "refused", "skipped", "notprocessed", "conflict"}
)

# The most specific name first: an answer may carry both a job state and an HTTP-ish "status".
_STATE_KEYS = ("jobStatus", "jobState", "status", "state")
_ITEM_STATE_KEYS = ("status", "state", "result", "outcome", "itemStatus")
_SUCCESS_FLAG_KEYS = ("success", "succeeded", "successful", "ok", "isSuccess", "accepted")
_FAILURE_FLAG_KEYS = ("failed", "isFailed", "hasError", "rejected")
_ERROR_KEYS = ("error", "errors", "errorCode", "errorMessage", "failure", "failureReason")
# Lists whose name says what their entries are, and lists that say nothing by their name.
_SUCCESS_LISTS = ("successfulItems", "succeededItems", "successItems", "succeeded", "successes")
_FAILURE_LISTS = ("errors", "failedItems", "failures", "failed", "errorItems")
_NEUTRAL_LISTS = ("results", "items", "itemResults", "itemStatuses", "data")
_INDEX_KEYS = ("index", "itemIndex", "position", "itemPosition")
_STATUS_KEYS = ("httpStatus", "statusCode", "status_code", "httpStatusCode")
# The job's counts, under each name they may take.
_TOTAL_KEYS = ("totalItems", "total", "itemCount", "totalCount", "itemsCount")
_PROCESSED_KEYS = ("processedItems", "processed", "processedCount", "completedItems")
_FAILED_COUNT_KEYS = ("failedItems", "failedCount", "failureCount", "errorCount", "failed")
_SUCCEEDED_COUNT_KEYS = (
    "successfulItems",
    "succeededItems",
    "successCount",
    "succeededCount",
    "successfulCount",
)
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
    message: str = ""  # why the job failed, when it says; why items are unknown, else

    def outcome(self, index: int) -> ItemFailure | bool | None:
        """The item's failure, None when it was accepted, or False when nothing is known."""
        return self.items.get(index, False)


class UnreadableStatus(ValueError):
    """The answer is not a job status in any design."""


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
    return _completed(doc, item_count)


def _completed(doc: Mapping[str, Any], item_count: int) -> JobStatus:
    successes: set[int] = set()
    failures: dict[int, ItemFailure] = {}
    for key, value in doc.items():
        if not isinstance(value, list):
            continue
        listed_as = True if key in _SUCCESS_LISTS else False if key in _FAILURE_LISTS else None
        if listed_as is None and key not in _NEUTRAL_LISTS:
            continue
        for entry in value:
            index = _index(entry, item_count)
            if index is None:
                continue
            says = _entry_says(entry)
            if says is False or (says is None and listed_as is False):
                # A failure read twice keeps the first reading: either one is a failure.
                failures.setdefault(index, _failure(entry))
            elif says is True or listed_as is True:
                successes.add(index)
    successes -= failures.keys()  # rule 5
    doubt = _counts_disagree(doc, item_count, len(successes), len(failures))
    if doubt:
        # Rule 4: only the failures stand (sent again or dead-lettered: never a loss).
        return JobStatus(JobState.COMPLETED, dict(failures), message=doubt)
    items: dict[int, ItemFailure | None] = dict.fromkeys(successes)
    items.update(failures)
    if len(items) < item_count and _counts_account_for_the_rest(doc, item_count, len(failures)):
        for index in range(item_count):  # rule 3
            items.setdefault(index, None)
    return JobStatus(JobState.COMPLETED, items)


def _entry_says(entry: Any) -> bool | None:
    """What one entry says of its own item: False (a failure, by any sign), True (a
    success, by a positive sign and no sign of failure), None (nothing)."""
    if not isinstance(entry, dict):
        return None
    success = False
    for key in _SUCCESS_FLAG_KEYS:
        flag = entry.get(key)
        if flag is False or (isinstance(flag, str) and flag.lower() == "false"):
            return False
        if flag is True or (isinstance(flag, str) and flag.lower() == "true"):
            success = True
    for key in _FAILURE_FLAG_KEYS:
        flag = entry.get(key)
        if flag is True or (isinstance(flag, str) and flag.lower() == "true"):
            return False
    for key in _ERROR_KEYS:
        if _present(entry.get(key)):
            return False
    if _present(entry.get("code")) and not _success_code(entry.get("code")):
        return False
    for key in _ITEM_STATE_KEYS:
        value = entry.get(key)
        if isinstance(value, str):
            word = _normal(value)
            if word in _ITEM_FAILURE_WORDS:
                return False
            if word in _ITEM_SUCCESS_WORDS:
                success = True
    for key in _STATUS_KEYS:
        status = _int(entry.get(key))
        if status is not None:
            if not 200 <= status < 300:
                return False
            success = True
    return True if success else None


def _counts_disagree(doc: Mapping[str, Any], item_count: int, successes: int, failures: int) -> str:
    """Why the job's own counts cannot be squared with the items read ("" when they can)."""
    total = _count(doc, _TOTAL_KEYS)
    if total is not None and total != item_count:
        return f"the job counts {total} items, {item_count} were sent"
    succeeded = _count(doc, _SUCCEEDED_COUNT_KEYS)
    if succeeded is not None and successes > succeeded:
        return f"{successes} items read as successes, the job counts {succeeded}"
    failed = _count(doc, _FAILED_COUNT_KEYS)
    if failed is not None and failures < failed:
        return f"{failures} item failures read, the job counts {failed}"
    processed = _count(doc, _PROCESSED_KEYS)
    if processed is not None and successes + failures > processed:
        return f"{successes + failures} item outcomes read, the job counts {processed} processed"
    return ""


def _counts_account_for_the_rest(doc: Mapping[str, Any], item_count: int, failures: int) -> bool:
    """The job says how many items failed (all of them read), and that every item was
    processed: then an item no entry names succeeded."""
    failed = _count(doc, _FAILED_COUNT_KEYS)
    if failed is None or failed != failures:
        return False
    processed = _count(doc, _PROCESSED_KEYS)
    succeeded = _count(doc, _SUCCEEDED_COUNT_KEYS)
    return processed == item_count or (succeeded is not None and succeeded + failed == item_count)


def _count(doc: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    """The first of `keys` whose value is a count (a list under the same name is not)."""
    for key in keys:
        value = _int(doc.get(key))
        if value is not None:
            return value
    return None


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {} and value is not False


def _success_code(code: Any) -> bool:
    """An item's own "code" that is a success: 0, or an HTTP 2xx."""
    value = _int(code)
    return value is not None and (value == 0 or 200 <= value < 300)


def _normal(word: str) -> str:
    return word.replace("_", "").replace("-", "").replace(" ", "").lower()


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
            state = _STATES.get(_normal(value))
            if state is not None:
                return state
    return None


def _index(entry: Any, item_count: int) -> int | None:
    value = _first(entry, _INDEX_KEYS) if isinstance(entry, dict) else entry
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < item_count:
        return value
    return None


def _failure(entry: Any) -> ItemFailure:
    if not isinstance(entry, dict):
        return ItemFailure(400, None, "failed (the status gives no reason)")
    error = entry.get("error")
    details = error if isinstance(error, dict) else entry
    code = _int(details.get("code", details.get("errorCode", entry.get("errorCode"))))
    if code is None:
        code = _int(entry.get("code"))
    message = details.get("message", entry.get("message", error if isinstance(error, str) else ""))
    if not message:
        message = entry.get("errorMessage") or entry.get("failureReason") or ""
    status = _int(_first(entry, _STATUS_KEYS)) or _int(_first(details, _STATUS_KEYS))
    # A failure always carries a refusal's status: a 2xx (or any non-error status) here
    # would read as accepted further on.
    if status is None or not 400 <= status <= 599:
        status = _STATUS_OF_CODE.get(code, 400) if code is not None else 400
    return ItemFailure(status, code, str(message or "")[:500])


def _int(value: Any) -> int | None:
    # isascii: "¹".isdigit() is true and int("¹") raises.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
