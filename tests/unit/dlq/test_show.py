"""`bridge dlq show` without Kafka: dead letters read from their headers, filtered,
summarised in bounded memory, and shown masked."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.dlq.filters import Filters
from bridge.dlq.letters import (
    GAMEBALL_REFUSED,
    MAPPING_FAILED,
    MappingNames,
    normalized,
    read_dead_letter,
    replay_headers,
)
from bridge.dlq.samples import SampleMasker
from bridge.dlq.show import Progress
from bridge.dlq.summary import MAX_REASONS, OTHER_REASONS, Summary
from bridge.mapping.settings import MappingConfig
from bridge.observability.settings import PersonalDataConfig
from bridge.record import SourceRecord

EMAIL = "jane.doe@example.com"


def dead(
    kind: str,
    message: str = "",
    *,
    offset: int = 0,
    status: int | None = None,
    code: int | None = None,
    topic: str = "orders",
    value: bytes | None = b"{}",
    key: bytes | None = b"cust_1",
    failed_at: str = "2026-12-07T10:15:00.000Z",
    extra: tuple[tuple[str, bytes | None], ...] = (),
) -> SourceRecord:
    fields: dict[str, Any] = {
        "error.kind": kind,
        "error.message": message,
        "error.http_status": status,
        "error.gameball_code": code,
        "error.attempts": 1,
        "source.topic": topic,
        "source.partition": 2,
        "source.offset": 40 + offset,
        "failed_at": failed_at,
    }
    headers = [("trace", b"t-1"), *extra]
    headers += [(f"bridge.{k}", str(v).encode()) for k, v in fields.items() if v is not None]
    return SourceRecord("dlq", 0, offset, value, key, tuple(headers), 1_700_000_000_000)


def test_a_dead_letter_is_read_from_its_headers() -> None:
    letter = read_dead_letter(dead("rejected", "events: no such tier", status=400, code=3000))
    assert (letter.kind, letter.http_status, letter.gameball_code) == ("rejected", 400, 3000)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("orders", 2, 40)
    assert letter.category == GAMEBALL_REFUSED
    assert letter.describe_refusal() == "HTTP 400, code 3000"
    assert letter.failed_at_ms == 1_796_638_500_000
    assert letter.failed_again == 0


def test_a_record_without_the_bridges_headers_is_read_not_refused() -> None:
    letter = read_dead_letter(
        SourceRecord("dlq", 0, 5, b"x", None, (("bridge.source.offset", b"\xc2\xb2"),), 9)
    )
    assert (letter.kind, letter.category, letter.source_offset) == ("unknown", MAPPING_FAILED, None)
    assert letter.failed_at_ms == 9  # the record's timestamp stands in


def test_the_same_reason_is_counted_across_replays_and_a_different_one_starts_again() -> None:
    first = read_dead_letter(dead("missing_field", "mapping 'app': missing user.id"))
    assert first.failed_again == 0
    # Replayed: restore adds the guard's headers; it failed again the same way.
    again = read_dead_letter(
        dead("missing_field", "mapping 'app': missing user.id", extra=replay_headers(first))
    )
    assert again.failed_again == 1
    third = read_dead_letter(
        dead("missing_field", "mapping 'app': missing user.id", extra=replay_headers(again))
    )
    assert third.failed_again == 2
    # Numbers in the message do not make it another reason (an index, an amount) ...
    fourth = read_dead_letter(
        dead("missing_field", "mapping 'app': missing user.id", extra=replay_headers(third))
    )
    assert fourth.failed_again == 3
    # ... but another kind, code or message does.
    other = read_dead_letter(
        dead("rejected", "events: no such tier", status=400, code=3000, extra=replay_headers(third))
    )
    assert (other.failed_again, other.replayed_from is not None) == (0, True)


def test_filters_combine_options_and_take_any_value_of_each() -> None:
    names = MappingNames(
        [
            MappingConfig.model_validate(
                {
                    "name": "shop-orders",
                    "topics": ["^shop\\..*"],
                    "event": {"customer_id": "u", "name": "t"},
                }
            ),
            MappingConfig.model_validate(
                {"name": "app", "topics": ["app"], "event": {"customer_id": "u", "name": "t"}}
            ),
        ]
    )
    letters = [
        read_dead_letter(
            dead("missing_field", "mapping 'shop-orders': missing id", topic="shop.orders")
        ),
        read_dead_letter(dead("invalid_json", "not JSON", topic="app")),
        read_dead_letter(
            dead("rejected", "events: no such tier", status=400, code=3000, topic="app")
        ),
        read_dead_letter(
            dead("retries_exhausted", "events: busy", status=500, code=4000, topic="gone")
        ),
    ]

    def picked(**options: Any) -> list[str]:
        f = Filters.of(**options)
        return [d.kind for d in letters if f.matches(d, names(d.source_topic))]

    assert picked() == ["missing_field", "invalid_json", "rejected", "retries_exhausted"]
    assert picked(kinds=["mapping_failed"]) == ["missing_field", "invalid_json"]
    assert picked(kinds=["gameball_refused"]) == ["rejected", "retries_exhausted"]
    assert picked(kinds=["mapping_failed"], mappings=["shop-orders"]) == ["missing_field"]
    assert picked(kinds=["invalid_json", "rejected"]) == ["invalid_json", "rejected"]
    assert picked(codes=[3000, 4000]) == ["rejected", "retries_exhausted"]
    assert picked(statuses=[500]) == ["retries_exhausted"]
    assert picked(topics=["app"], reason="TIER") == ["rejected"]
    assert picked(mappings=["app"]) == ["invalid_json", "rejected"]
    assert names("gone") is None
    assert Filters.of(kinds=["rejected"], codes=[3000], reason="Tier").describe() == (
        "--kind rejected --code 3000 --reason 'tier'"
    )


def test_the_summary_counts_by_kind_code_source_and_hour() -> None:
    summary = Summary()
    records = [
        dead("missing_field", "mapping 'app': missing user.id", offset=0),
        dead(
            "missing_field",
            "mapping 'app': missing user.id",
            offset=1,
            failed_at="2026-12-07T11:59:59.000Z",
        ),
        dead("invalid_json", "unexpected character at 17", offset=2),
        dead("rejected", "events: no such tier", status=400, code=3000, offset=3, topic="app"),
    ]
    for record in records:
        summary.read += 1
        letter = read_dead_letter(record)
        summary.add(letter, "app" if letter.source_topic == "app" else "orders")
    doc = summary.as_dict()
    assert (doc["read"], doc["matched"]) == (4, 4)
    assert doc["by_kind"] == [
        {"category": "gameball_refused", "kind": "rejected", "count": 1},
        {"category": "mapping_failed", "kind": "invalid_json", "count": 1},
        {"category": "mapping_failed", "kind": "missing_field", "count": 2},
    ]
    assert doc["by_code"] == [{"http_status": 400, "gameball_code": 3000, "count": 1}]
    assert doc["by_source"] == [
        {"topic": "orders", "mapping": "orders", "count": 3},
        {"topic": "app", "mapping": "app", "count": 1},
    ]
    assert doc["by_hour"] == [
        {"hour": "2026-12-07T10:00:00.000Z", "count": 3},
        {"hour": "2026-12-07T11:00:00.000Z", "count": 1},
    ]
    assert (doc["first_seen"], doc["last_seen"]) == (
        "2026-12-07T10:15:00.000Z",
        "2026-12-07T11:59:59.000Z",
    )
    assert doc["top_reasons"][0] == {
        "kind": "missing_field",
        "reason": "mapping 'app': missing user.id",
        "count": 2,
    }
    assert {"kind": "invalid_json", "reason": "unexpected character at #", "count": 1} in doc[
        "top_reasons"
    ]
    text = summary.render("heading")
    assert "mapping_failed" in text
    assert "  missing_field" in text
    assert "HTTP 400, code 3000" in text
    assert "2026-12-07 10:00" in text


def letters(n: int) -> str:
    """`n` written without digits (digits are blanked out of reasons)."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out += chr(97 + r)
        if not n:
            return out


def test_reasons_blank_numbers_but_keep_statuses_and_codes() -> None:
    assert normalized("events: HTTP 404, code 7000: customer 1234 not found, user42") == (
        "events: HTTP 404, code 7000: customer # not found, user#"
    )
    assert normalized("line 1\n   column  75") == "line # column #"
    assert len(normalized("x" * 500)) == 160


def test_the_summary_stays_bounded_however_many_reasons_there_are() -> None:
    summary = Summary(samples=2, masker=SampleMasker(PersonalDataConfig()))
    for n in range(MAX_REASONS + 500):
        letter = read_dead_letter(
            dead("rejected", f"events: bad field {letters(n)}", status=400, offset=n)
        )
        summary.add(letter, None)
    assert len(summary.reasons) == MAX_REASONS + 1
    assert summary.reasons["rejected", OTHER_REASONS] > 0
    assert sum(summary.reasons.values()) == MAX_REASONS + 500
    assert [len(s) for s in summary.samples.values()] == [2]


@pytest.mark.parametrize("mode", ["hash", "drop"])
def test_samples_are_masked_like_log_lines_and_never_show_the_key(mode: str) -> None:
    masker = SampleMasker(PersonalDataConfig(mode=mode, fields=("phone",), salt="s"))  # type: ignore[arg-type]
    value = orjson.dumps({"user": {"id": "cust_9", "email": EMAIL, "Phone": "+2010"}, "n": 1})
    sample = masker.sample(
        read_dead_letter(
            dead(
                "missing_field",
                "x",
                value=value,
                key=b"cust_9-key",
                extra=(("email", EMAIL.encode()),),
            )
        )
    )
    assert EMAIL not in repr(sample.as_dict())
    assert "+2010" not in repr(sample.as_dict())
    assert "cust_9-key" not in repr(sample.as_dict())
    assert sample.key == "(10 bytes, not shown)"
    shown = orjson.loads(sample.value)
    assert shown["user"]["id"] == "cust_9"  # customer ids are kept, as in the logs
    if mode == "hash":
        assert shown["user"]["email"].startswith("sha256:")
        assert dict(sample.headers)["email"].startswith("sha256:")
    else:
        assert "email" not in shown["user"]
        assert "email" not in dict(sample.headers)
    assert dict(sample.headers)["bridge.error.kind"] == "missing_field"
    assert dict(sample.headers)["trace"] == "t-1"


def test_text_that_is_not_json_has_the_same_keys_masked_and_binary_is_not_shown() -> None:
    masker = SampleMasker(PersonalDataConfig(salt="s"))  # type: ignore[arg-type]
    broken = b'{"user": {"id": "c1", "email": "' + EMAIL.encode() + b'", "mobile": 2010'
    shown = masker.value(broken)
    assert EMAIL not in shown
    assert "2010" not in shown
    assert shown.startswith('{"user": {"id": "c1", "email": "sha256:')
    assert masker.value(b"\x00\x01\xff\xfe") == "(4 bytes, binary: not shown)"
    assert masker.value(None) == "(no value: a tombstone)"
    keep = SampleMasker(PersonalDataConfig(mode="keep"))
    assert EMAIL in keep.value(broken)


def test_long_values_are_cut() -> None:
    masker = SampleMasker(PersonalDataConfig())
    shown = masker.value(orjson.dumps({"x": "a" * 5000}))
    assert len(shown) == 400
    assert shown.endswith("…")


def test_progress_is_shown_only_for_a_long_read() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = Progress(1000, lines.append, every=1.0, clock=lambda: now[0])
    progress.update(10)
    assert lines == []
    now[0] = 1.5
    progress.update(500)
    progress.update(510)
    now[0] = 2.6
    progress.update(900)
    assert lines == ["read 500 of 1,000 dead letters (50%)", "read 900 of 1,000 dead letters (90%)"]
