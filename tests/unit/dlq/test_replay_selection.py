"""`bridge dlq replay`'s choice of dead letters, without Kafka: the filters, and the loop
guard's count carried from dead letter to dead letter by the headers `restore` adds and the
dead-letter producer copies."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.config import parse_config
from bridge.dlq.filters import Filters
from bridge.dlq.letters import read_dead_letter
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.record import SourceRecord
from bridge.replay.dead_letters import Selection, restore

CONFIG = parse_config(
    {
        "kafka": {"bootstrap_servers": "127.0.0.1:1"},
        "gameball": {"api_key": "k"},
        "dead_letter": {"topic": "dlq"},
        "mappings": [
            {"name": "shop", "topics": ["orders"], "event": {"customer_id": "u", "name": "t"}}
        ],
    },
    env={},
)
BAD_JSON = DeadLetterReason("invalid_json", "the value is not valid JSON: line 1 column 9")


def dead_letter_of(record: SourceRecord, reason: DeadLetterReason, offset: int) -> SourceRecord:
    """What the dead-letter producer writes for `record`: its headers, then the reason's."""
    headers = record.headers + tuple(reason.headers(record, datetime.now(UTC)))
    return SourceRecord("dlq", 0, offset, record.value, record.key, headers)


def test_a_record_that_keeps_failing_is_held_back_at_its_third_replay() -> None:
    source = SourceRecord("orders", 1, 7, b"{not json", b"k", (("trace", b"t"),))
    dead = dead_letter_of(source, BAD_JSON, 0)
    decisions = []
    for offset in range(1, 4):
        selection = Selection.of(CONFIG)
        decisions.append(selection.decide(dead))
        if decisions[-1] != "replay":
            break
        restored = restore(dead)
        assert (restored.topic, restored.partition, restored.offset) == ("orders", 1, 7)
        assert restored.headers[0] == ("trace", b"t")
        # It fails again the same way (another position in the message: the same reason).
        again = DeadLetterReason(
            "invalid_json", f"the value is not valid JSON: line 1 column {offset}"
        )
        dead = dead_letter_of(restored, again, offset)
        assert read_dead_letter(dead).failed_again == offset
    assert decisions == ["replay", "replay", "held_back"]
    assert Selection.of(CONFIG, force=True).decide(dead) == "replay"
    assert Selection.of(CONFIG, max_failed_replays=3).decide(dead) == "replay"
    # Headers written by the bridge are not duplicated along the way.
    names = [name for name, _ in dead.headers]
    assert names.count("bridge.error.kind") == 1
    assert names.count("bridge.replay.failures") == 1


def test_a_replay_that_fails_for_another_reason_starts_the_count_again() -> None:
    source = SourceRecord("orders", 0, 3, b'{"u": "c1", "t": "x"}', b"k")
    dead = dead_letter_of(source, BAD_JSON, 0)
    dead = dead_letter_of(restore(dead), BAD_JSON, 1)
    assert read_dead_letter(dead).failed_again == 1
    refused = DeadLetterReason("rejected", "events: HTTP 400, code 3000: missing", 1, 400, 3000)
    dead = dead_letter_of(restore(dead), refused, 2)
    assert read_dead_letter(dead).failed_again == 0
    dead = dead_letter_of(restore(dead), refused, 3)
    assert read_dead_letter(dead).failed_again == 1


def test_the_selection_counts_what_it_chose_skipped_and_held_back() -> None:
    refused = DeadLetterReason("rejected", "events: HTTP 400, code 3000: missing", 1, 400, 3000)
    letters = [
        dead_letter_of(SourceRecord("orders", 0, 1, b"{"), BAD_JSON, 0),
        dead_letter_of(SourceRecord("orders", 0, 2, b"{}"), refused, 1),
        dead_letter_of(SourceRecord("other", 0, 3, b"{"), BAD_JSON, 2),
    ]
    selection = Selection.of(CONFIG, Filters.of(kinds=["mapping_failed"], mappings=["shop"]))
    assert [selection(record) for record in letters] == [True, False, False]
    assert selection.counts() == {
        "chosen": 1,
        "not_matching": 2,
        "held_back": 0,
        "held_back_by_kind": {},
    }
    assert selection.context() == {
        "filters": "--kind mapping_failed --mapping shop",
        "max_failed_replays": 2,
        "force": False,
    }
