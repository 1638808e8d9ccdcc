"""Reading a batch job's status (bridge/gameball/batch_status.py): both documented designs,
every state word, each item's outcome, wrapped and unreadable answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
            "results": [{"index": "0", "success": "true"}],
            "errors": [{"index": "1", "code": "3000", "httpStatus": "400", "message": "m"}],
        },
        2,
    )
    assert parsed.items == {0: None, 1: ItemFailure(400, 3000, "m")}


@pytest.mark.parametrize("index", [3, -1, "-1", "x", 1.0, True, None])
def test_indexes_out_of_range_or_not_integers_are_ignored(index: Any) -> None:
    parsed = parse(
        {
            "status": "completed",
            "results": [
                {"index": 0, "status": "success"},
                {"index": index, "status": "success"},
                {"index": 2, "status": "success"},
            ],
        },
        3,
    )
    assert parsed.items == {0: None, 2: None}
    assert parsed.outcome(1) is False


def test_a_failure_out_of_range_does_not_add_an_item() -> None:
    parsed = parse(
        {
            "status": "completed",
            "processedItems": 2,
            "failedItems": 0,
            "errors": [{"index": 5, "code": 3000}],
        },
        2,
    )
    assert parsed.items == {0: None, 1: None}


def test_only_failures_listed_with_counts_that_account_for_the_rest() -> None:
    parsed = parse(
        {
            "status": "completed",
            "totalItems": 4,
            "processedItems": 4,
            "failedItems": 1,
            "errors": [{"index": 2, "code": 3000, "httpStatus": 400}],
        },
        4,
    )
    assert parsed.items == {0: None, 1: None, 2: ItemFailure(400, 3000, ""), 3: None}


def test_only_failures_listed_without_counts_leaves_the_rest_unknown() -> None:
    # Nothing says the unlisted items landed: sent again, never counted delivered.
    parsed = parse(
        {"status": "completed", "errors": [{"index": 2, "code": 3000, "httpStatus": 400}]}, 4
    )
    assert parsed.items == {2: ItemFailure(400, 3000, "")}


def test_an_empty_failure_list_alone_says_nothing_of_the_items() -> None:
    assert parse({"jobStatus": "Completed", "failedItems": []}, 3).items == {}


def test_only_successes_listed_leaves_the_unlisted_without_an_outcome() -> None:
    parsed = parse({"jobStatus": "Completed", "successfulItems": [{"itemIndex": 1}]}, 3)
    assert parsed.items == {1: None}
    assert 0 not in parsed.items
    assert parsed.outcome(0) is False
    assert parsed.outcome(2) is False


def test_both_lists_leave_an_item_in_neither_without_an_outcome() -> None:
    parsed = parse(
        {
            "status": "completed",
            "results": [{"index": 0, "status": "success"}],
            "errors": [{"index": 1, "code": 3000}],
        },
        3,
    )
    assert set(parsed.items) == {0, 1}
    assert parsed.outcome(2) is False


def test_a_completed_job_without_lists_has_no_known_outcomes() -> None:
    assert parse({"status": "completed"}, 3).items == {}


@pytest.mark.parametrize("wrapper", ["data", "response", "result", "job"])
def test_wrapped_answers_are_unwrapped(wrapper: str) -> None:
    inner = {
        "jobStatus": "Completed",
        "successfulItems": [{"itemIndex": 1}],
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


def test_digits_outside_ascii_are_not_numbers() -> None:
    # "¹".isdigit() is true, and int("¹") raises: neither an index nor a status.
    status = parse({"status": "completed", "results": [{"index": "¹", "httpStatus": "²"}]}, 1)
    assert status.items == {}


def test_unreadable_status_is_a_value_error() -> None:
    assert issubclass(UnreadableStatus, ValueError)


# -- failing safe: an item is delivered only where the answer says so -------------------------


def test_every_item_under_results_each_saying_its_own_outcome() -> None:
    # The shape that lost records: every item under "results", failures flagged there, and an
    # empty "errors" list. Read before as "all delivered".
    status = parse(
        {
            "batchId": "7",
            "status": "completed",
            "totalItems": 4,
            "processedItems": 4,
            "failedItems": 2,
            "results": [
                {"index": 0, "success": True},
                {
                    "index": 1,
                    "success": False,
                    "error": {"code": 5000, "message": "internal"},
                },
                {"index": 2, "success": True},
                {"index": 3, "success": False, "error": {"code": 3003, "message": "bad value"}},
            ],
            "errors": [],
        },
        4,
    )
    assert status.items == {
        0: None,
        1: ItemFailure(500, 5000, "internal"),
        2: None,
        3: ItemFailure(422, 3003, "bad value"),
    }
    assert status.message == ""


@pytest.mark.parametrize(
    "entry",
    [
        {"index": 0, "success": False},
        {"index": 0, "success": "false"},
        {"index": 0, "succeeded": False},
        {"index": 0, "ok": False},
        {"index": 0, "failed": True},
        {"index": 0, "error": {"code": 5000}},
        {"index": 0, "error": "boom"},
        {"index": 0, "errors": [{"code": 3000}]},
        {"index": 0, "errorCode": 3003},
        {"index": 0, "errorMessage": "refused"},
        {"index": 0, "code": 3000},
        {"index": 0, "status": "failed"},
        {"index": 0, "status": "Error"},
        {"index": 0, "state": "rejected"},
        {"index": 0, "result": "FAILURE"},
        {"index": 0, "httpStatus": 422},
        {"index": 0, "statusCode": 500},
        # A failure sign wins over a success sign in the same entry.
        {"index": 0, "success": True, "error": {"code": 5000}},
        {"index": 0, "status": "success", "httpStatus": 500},
        {"index": 0, "success": True, "failed": True},
    ],
)
@pytest.mark.parametrize("where", ["results", "successfulItems", "items"])
def test_any_sign_of_failure_in_an_entry_is_a_failure_wherever_it_stands(
    entry: dict[str, Any], where: str
) -> None:
    status = parse({"status": "completed", where: [entry]}, 1)
    assert isinstance(status.items.get(0), ItemFailure), status


@pytest.mark.parametrize(
    "entry",
    [
        {"index": 0, "success": True},
        {"index": 0, "success": "true"},
        {"index": 0, "status": "success"},
        {"index": 0, "status": "Succeeded"},
        {"index": 0, "state": "ok"},
        {"index": 0, "httpStatus": 200},
        {"index": 0, "statusCode": "201"},
        {"index": 0, "success": True, "error": None, "errors": []},
    ],
)
def test_a_positive_sign_in_a_results_entry_is_a_success(entry: dict[str, Any]) -> None:
    assert parse({"status": "completed", "results": [entry]}, 1).items == {0: None}


@pytest.mark.parametrize(
    "entry",
    [
        {"index": 0},
        {"index": 0, "status": "completed"},
        {"index": 0, "status": "processed"},
        {"index": 0, "message": "ok then"},
        {"index": 0, "code": 0},
        0,
    ],
)
def test_a_results_entry_that_says_nothing_is_unknown(entry: Any) -> None:
    status = parse({"status": "completed", "results": [entry]}, 1)
    assert status.items == {}
    assert status.outcome(0) is False


def test_an_item_listed_both_as_a_success_and_a_failure_is_a_failure() -> None:
    status = parse(
        {
            "jobStatus": "Completed",
            "successfulItems": [{"itemIndex": 0}, {"itemIndex": 1}],
            "failedItems": [{"itemIndex": 0, "error": {"code": 5003}}],
        },
        2,
    )
    assert status.items == {0: ItemFailure(503, 5003, ""), 1: None}


def test_a_failure_never_carries_a_success_status() -> None:
    # {"success": false, "httpStatus": 200} must not read as HTTP 200 (accepted) further on.
    status = parse(
        {"status": "completed", "results": [{"index": 0, "success": False, "httpStatus": 200}]}, 1
    )
    assert status.items == {0: ItemFailure(400, None, "")}
    coded = parse(
        {"status": "completed", "errors": [{"index": 0, "code": 5000, "statusCode": 204}]}, 1
    )
    assert coded.items == {0: ItemFailure(500, 5000, "")}


@pytest.mark.parametrize(
    ("counts", "says"),
    [
        ({"totalItems": 5}, "the job counts 5 items, 3 were sent"),
        ({"successCount": 1}, "3 items read as successes, the job counts 1"),
        ({"failedItems": 1}, "0 item failures read, the job counts 1"),
        ({"processedItems": 2}, "3 item outcomes read, the job counts 2 processed"),
    ],
)
def test_counts_that_contradict_the_items_leave_only_the_failures(
    counts: dict[str, int], says: str
) -> None:
    status = parse(
        {
            "status": "completed",
            **counts,
            "results": [{"index": i, "status": "success"} for i in range(3)],
        },
        3,
    )
    assert status.items == {}
    assert status.message == says


def test_contradicting_counts_keep_the_failures_read() -> None:
    status = parse(
        {
            "status": "completed",
            "totalItems": 9,
            "results": [{"index": 0, "status": "success"}],
            "errors": [{"index": 1, "code": 3000}],
        },
        2,
    )
    assert status.items == {1: ItemFailure(400, 3000, "")}


@pytest.mark.parametrize(
    "counts",
    [
        {"failedItems": 1},  # how many failed, but not that all were processed
        {"processedItems": 3},  # processed, but not how many failed
        {"processedItems": 2, "failedItems": 1},  # one item not processed
        {"successCount": 1, "failedCount": 1},  # one item in neither count
    ],
)
def test_counts_that_do_not_account_for_an_unnamed_item_leave_it_unknown(
    counts: dict[str, int],
) -> None:
    status = parse({"status": "completed", **counts, "errors": [{"index": 1, "code": 3000}]}, 3)
    assert status.outcome(0) is False
    assert status.outcome(2) is False


def test_counts_that_account_for_every_item_make_the_unnamed_ones_successes() -> None:
    status = parse(
        {
            "status": "completed",
            "successCount": 2,
            "failedCount": 1,
            "errors": [{"index": 1, "code": 3000}],
        },
        3,
    )
    assert status.items == {0: None, 1: ItemFailure(400, 3000, ""), 2: None}


@pytest.mark.parametrize("word", ["completed_with_errors", "PartiallyCompleted", "partial"])
def test_a_job_finished_with_some_items_refused_is_completed(word: str) -> None:
    status = parse(
        {"status": word, "results": [{"index": 0, "success": False, "error": {"code": 3000}}]}, 1
    )
    assert status.state is JobState.COMPLETED
    assert status.items == {0: ItemFailure(400, 3000, "")}


# -- the property: no answer marks an item delivered without saying it succeeded ------------

# Words, keys and values that say "success" in some way: the property's answers never carry
# them, so no item of theirs may come out delivered.
_POSITIVE_WORDS = {
    "success",
    "succeeded",
    "successful",
    "ok",
    "accepted",
    "applied",
    "created",
    "updated",
}
_POSITIVE_LISTS = ["successfulItems", "succeededItems", "successItems", "succeeded", "successes"]
_ITEM_KEYS = [
    "index",
    "itemIndex",
    "status",
    "state",
    "result",
    "outcome",
    "success",
    "succeeded",
    "ok",
    "failed",
    "error",
    "errors",
    "code",
    "errorCode",
    "message",
    "httpStatus",
    "statusCode",
]
_COUNT_KEYS = [
    "totalItems",
    "processedItems",
    "failedItems",
    "failedCount",
    "successCount",
    "succeededItems",
    "progress",
]
_LIST_KEYS = ["results", "items", "errors", "failedItems", "failures", "data", "other"]


def _no_positive(value: Any) -> bool:
    if value is True:
        return False
    if isinstance(value, str):
        word = value.replace("_", "").replace("-", "").replace(" ", "").lower()
        if word.isascii() and word.isdigit() and 200 <= int(word) < 300:
            return False
        return word not in _POSITIVE_WORDS and word != "true"
    return not (isinstance(value, int) and 200 <= value < 300)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 700),
    st.sampled_from(
        ["completed", "processed", "failed", "error", "pending", "", "0", "1", "2", "false"]
    ),
    st.text(max_size=6),
).filter(_no_positive)
_entries = st.one_of(
    st.integers(-1, 5),
    st.dictionaries(
        st.sampled_from(_ITEM_KEYS),
        st.one_of(_scalars, st.dictionaries(st.sampled_from(["code", "message"]), _scalars)),
        max_size=6,
    ),
)


@given(
    state=st.sampled_from(["completed", "Completed", "done", "partial", "processed"]),
    lists=st.dictionaries(st.sampled_from(_LIST_KEYS), st.lists(_entries, max_size=6), max_size=3),
    counts=st.dictionaries(
        st.sampled_from(_COUNT_KEYS),
        st.one_of(st.integers(0, 6), st.sampled_from(["3", "0"])),
        max_size=3,
    ),
    item_count=st.integers(1, 5),
)
@settings(max_examples=400, deadline=None)
def test_no_item_is_delivered_unless_some_field_says_it_succeeded(
    state: str, lists: dict[str, list[Any]], counts: dict[str, Any], item_count: int
) -> None:
    # Without a positive sign in any entry, without a list named for successes, and without
    # counts that account for every item (processed == all of them, or successes + failures
    # == all of them), nothing may come out delivered.
    counts = {k: v for k, v in counts.items() if k not in ("processedItems", "successCount")}
    counts.pop("succeededItems", None)
    doc = {"status": state, **counts, **lists}
    status = parse_status(orjson.dumps(doc), item_count)
    delivered = [index for index, outcome in status.items.items() if outcome is None]
    assert delivered == [], doc


@given(
    lists=st.dictionaries(
        st.sampled_from([*_LIST_KEYS, *_POSITIVE_LISTS]),
        st.lists(_entries, max_size=6),
        max_size=3,
    ),
    counts=st.dictionaries(st.sampled_from(_COUNT_KEYS), st.integers(0, 6), max_size=4),
    item_count=st.integers(1, 5),
)
@settings(max_examples=400, deadline=None)
def test_an_entry_with_a_sign_of_failure_is_never_delivered(
    lists: dict[str, list[Any]], counts: dict[str, Any], item_count: int
) -> None:
    doc = {"status": "completed", **counts, **lists}
    status = parse_status(orjson.dumps(doc), item_count)
    for entries in lists.values():
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            index = entry.get("index", entry.get("itemIndex"))
            failing = entry.get("success") is False or entry.get("failed") is True
            failing = failing or (isinstance(entry.get("error"), dict) and bool(entry["error"]))
            if failing and isinstance(index, int) and 0 <= index < item_count:
                assert status.items.get(index, False) is not None, doc
