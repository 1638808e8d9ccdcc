"""Reading a batch job's status (bridge/gameball/batch_status.py): both documented designs,
every state word, each item's outcome, wrapped and unreadable answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.gameball.batch_status import (
    ItemFailure,
    JobState,
    JobStatus,
    UnreadableStatus,
    parse_status,
)


def parse(doc: Any, item_count: int = 3) -> JobStatus:
    return parse_status(orjson.dumps(doc), item_count)


# -- the job's state ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "word", "state"),
    [
        ("status", "pending", JobState.PENDING),
        ("status", "processing", JobState.PENDING),
        ("status", "completed", JobState.COMPLETED),
        ("status", "failed", JobState.FAILED),
        ("jobStatus", "Queued", JobState.PENDING),
        ("jobStatus", "InProgress", JobState.PENDING),
        ("jobStatus", "Completed", JobState.COMPLETED),
        ("jobStatus", "Failed", JobState.FAILED),
        # Other spellings of the same words, and other names for the state.
        ("jobStatus", "in_progress", JobState.PENDING),
        ("jobStatus", "In Progress", JobState.PENDING),
        ("state", "RUNNING", JobState.PENDING),
        ("jobState", "done", JobState.COMPLETED),
        ("state", "succeeded", JobState.COMPLETED),
        ("status", "cancelled", JobState.FAILED),
        ("status", "aborted", JobState.FAILED),
    ],
)
def test_every_state_word_of_both_designs(key: str, word: str, state: JobState) -> None:
    assert parse({key: word}).state is state


def test_a_pending_job_has_no_item_outcomes_yet() -> None:
    # Even when it already lists some: an unfinished job's lists are not final.
    status = parse({"batchId": "7", "status": "processing", "results": [{"index": 0}]})
    assert status == JobStatus(JobState.PENDING)
    assert status.outcome(0) is False


def test_a_failed_job_carries_its_message_and_no_items() -> None:
    status = parse({"batchId": "7", "status": "failed", "message": "internal error"})
    assert status == JobStatus(JobState.FAILED, message="internal error")
    tutorial = parse({"jobId": 7, "jobStatus": "Failed", "error": "stopped by user"})
    assert tutorial.message == "stopped by user"
    assert parse({"status": "failed"}).message == ""


def test_a_failed_jobs_message_is_cut_to_500_characters() -> None:
    assert len(parse({"status": "failed", "message": "x" * 2000}).message) == 500


# -- per-item outcomes ----------------------------------------------------------------------


def test_spec_shape_with_successes_and_a_failure() -> None:
    status = parse(
        {
            "batchId": "7",
            "status": "completed",
            "progress": 100,
            "results": [{"index": 0, "status": "success"}, {"index": 2, "status": "success"}],
            "errors": [
                {"index": 1, "code": 3000, "message": "customerId missing", "httpStatus": 400}
            ],
        }
    )
    assert status.state is JobState.COMPLETED
    assert status.items == {0: None, 1: ItemFailure(400, 3000, "customerId missing"), 2: None}
    assert status.outcome(0) is None
    assert status.outcome(1) == ItemFailure(400, 3000, "customerId missing")


def test_tutorial_shape_with_successes_and_a_failure() -> None:
    status = parse(
        {
            "jobId": 7,
            "jobStatus": "Completed",
            "successfulItems": [{"itemIndex": 1}],
            "failedItems": [
                {
                    "itemIndex": 0,
                    "error": {"code": 7000, "message": "customer not found"},
                    "statusCode": 404,
                },
                {
                    "itemIndex": 2,
                    "error": {"code": 4000, "message": "try later"},
                    "statusCode": 400,
                },
            ],
        }
    )
    assert status.items == {
        0: ItemFailure(404, 7000, "customer not found"),
        1: None,
        2: ItemFailure(400, 4000, "try later"),
    }


@pytest.mark.parametrize(
    ("code", "status"),
    [(5000, 500), (2001, 422), (9004, 422), (4004, 404), (1000, 401), (6000, 422), (3000, 400)],
)
def test_a_failure_with_only_a_code_takes_the_single_calls_status(code: int, status: int) -> None:
    parsed = parse({"status": "completed", "errors": [{"index": 0, "code": code}]}, 1)
    assert parsed.items == {0: ItemFailure(status, code, "")}


def test_a_failure_inside_an_error_object_without_a_status() -> None:
    parsed = parse(
        {"jobStatus": "Completed", "failedItems": [{"itemIndex": 0, "error": {"code": 5003}}]}, 1
    )
    assert parsed.items == {0: ItemFailure(503, 5003, "")}


def test_a_failure_with_neither_status_nor_code_is_a_400() -> None:
    parsed = parse({"status": "completed", "errors": [{"index": 0, "message": "bad"}]}, 1)
    assert parsed.items == {0: ItemFailure(400, None, "bad")}


def test_an_impossible_http_status_falls_back_to_the_codes() -> None:
    parsed = parse(
        {"status": "completed", "errors": [{"index": 0, "code": 5000, "httpStatus": 9999}]}, 1
    )
    assert parsed.items[0] == ItemFailure(500, 5000, "")


def test_string_indexes_codes_and_statuses_are_read() -> None:
    parsed = parse(
        {
            "status": "completed",
            "results": [{"index": "0"}],
            "errors": [{"index": "1", "code": "3000", "httpStatus": "400", "message": "m"}],
        },
        2,
    )
    assert parsed.items == {0: None, 1: ItemFailure(400, 3000, "m")}


@pytest.mark.parametrize("index", [3, -1, "-1", "x", 1.0, True, None])
def test_indexes_out_of_range_or_not_integers_are_ignored(index: Any) -> None:
    parsed = parse(
        {"status": "completed", "results": [{"index": 0}, {"index": index}, {"index": 2}]}, 3
    )
    assert parsed.items == {0: None, 2: None}
    assert parsed.outcome(1) is False


def test_a_failure_out_of_range_does_not_add_an_item() -> None:
    parsed = parse({"status": "completed", "errors": [{"index": 5, "code": 3000}]}, 2)
    assert parsed.items == {0: None, 1: None}


def test_only_failures_listed_means_the_rest_succeeded() -> None:
    parsed = parse(
        {"status": "completed", "errors": [{"index": 2, "code": 3000, "httpStatus": 400}]}, 4
    )
    assert parsed.items == {0: None, 1: None, 2: ItemFailure(400, 3000, ""), 3: None}


def test_an_empty_failure_list_alone_means_every_item_succeeded() -> None:
    assert parse({"jobStatus": "Completed", "failedItems": []}, 3).items == {
        0: None,
        1: None,
        2: None,
    }


def test_only_successes_listed_leaves_the_unlisted_without_an_outcome() -> None:
    parsed = parse({"jobStatus": "Completed", "successfulItems": [{"itemIndex": 1}]}, 3)
    assert parsed.items == {1: None}
    assert 0 not in parsed.items
    assert parsed.outcome(0) is False
    assert parsed.outcome(2) is False


def test_both_lists_leave_an_item_in_neither_without_an_outcome() -> None:
    parsed = parse(
        {"status": "completed", "results": [{"index": 0}], "errors": [{"index": 1, "code": 3000}]},
        3,
    )
    assert set(parsed.items) == {0, 1}


def test_a_completed_job_without_lists_has_no_known_outcomes() -> None:
    assert parse({"status": "completed"}, 3).items == {}


@pytest.mark.parametrize("wrapper", ["data", "response", "result", "job"])
def test_wrapped_answers_are_unwrapped(wrapper: str) -> None:
    inner = {
        "jobStatus": "Completed",
        "failedItems": [{"itemIndex": 0, "statusCode": 422, "error": {"code": 9004}}],
    }
    parsed = parse({"success": True, wrapper: inner}, 2)
    assert parsed.state is JobState.COMPLETED
    assert parsed.items == {0: ItemFailure(422, 9004, ""), 1: None}


def test_a_wrapper_without_a_state_is_not_taken_for_the_answer() -> None:
    parsed = parse({"status": "pending", "data": {"items": 3}})
    assert parsed.state is JobState.PENDING


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "expected an object, got list"),
        (b'"completed"', "expected an object, got str"),
        (b'{"jobId": 7}', "no job state"),
        (b'{"status": "exploded"}', "no job state"),
        (b'{"status": 200}', "no job state"),
        (b'{"data": {"jobId": 7}}', "no job state"),
    ],
)
def test_unreadable_answers_raise(body: bytes, says: str) -> None:
    with pytest.raises(UnreadableStatus, match=says):
        parse_status(body, 1)


def test_unreadable_status_is_a_value_error() -> None:
    assert issubclass(UnreadableStatus, ValueError)
