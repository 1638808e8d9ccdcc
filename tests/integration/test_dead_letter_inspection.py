"""Dead letters a person can read, on the real broker: `bridge dlq show` over dead letters of
several kinds (invalid JSON, a mapping failure, Gameball refusals with codes, an item refused
inside a batch), its filters and masked samples; then selective replays with the loop guard.

One module-scoped incident: the tests read it in file order, and each bounds what it reads
to the offsets it is about, so that the replays' new dead letters do not change the others."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka.admin import AdminClient

from bridge.config import BridgeConfig, parse_config
from bridge.dlq.filters import Filters
from bridge.dlq.show import show
from bridge.kafka.admin import ensure_topics
from bridge.kafka.dead_letter_reader import Bounds
from bridge.replay import dead_letters
from bridge.replay.dead_letter_dry_run import dry_run
from bridge.replay.dead_letters import Selection
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka

from .conftest import (
    API_KEY,
    SECRET_KEY,
    InProcessBridge,
    all_committed,
    config_data,
    dead_letter_topic,
    wait_until,
)

pytestmark = pytest.mark.kafka

EMAIL = "jane.doe@example.com"
FAST_BATCHES = {
    "mode": "always",
    "first_poll": 0.05,
    "poll_interval": 0.05,
    "max_poll_interval": 0.2,
    "max_wait": 0.05,
}
# What the incident dead-letters, by kind: (count, HTTP status, Gameball code).
EXPECTED = {
    "invalid_json": 3,
    "missing_field": 4,
    "rejected": 5,  # 2 x 400/3000 and 1 x 422/3011 as single calls, 2 x 404/7000 in batches
}


@dataclass
class Incident:
    bootstrap: str
    topic: str
    dlq: str
    data: dict[str, Any]  # the config as YAML data (the broken mapping)
    emulator: GameballEmulator
    end: int  # the dead-letter topic's end after the incident (one partition)
    workdir: Path

    def config(self, **changes: Any) -> BridgeConfig:
        return parse_config({**self.data, **changes}, env={})

    def config_file(self, data: dict[str, Any] | None = None) -> Path:
        path = self.workdir / f"bridge-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(data or self.data))
        return path

    def dlq_end(self) -> int:
        return kafka_tools.end_offsets(self.bootstrap, self.dlq)[0]


@pytest.fixture(scope="module")
def incident(kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Incident]:
    bootstrap = kafka.bootstrap_servers
    topic = f"shop-events-{uuid.uuid4().hex[:6]}"
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {topic: 3, dead_letter_topic(topic): 1},
    )
    with GameballEmulator(api_key=API_KEY, secret_key=SECRET_KEY, order_key="seq") as emu:
        data = config_data(kafka, emu, topic, delivery={"batch": {"mode": "never"}})
        data["mappings"][0]["name"] = "shop-events"

        def produce(docs: list[bytes], keys: list[bytes]) -> None:
            kafka_tools.produce(bootstrap, topic, docs, keys=keys)

        # 3 that are not JSON (cut short, an email inside), 4 the mapping cannot read
        # (user.uid, not user.id), 3 that Gameball refuses as single calls, 4 delivered.
        produce(
            [
                b'{"type": "tick", "user": {"id": "cust_j%d", "email": "%s"' % (i, EMAIL.encode())
                for i in range(3)
            ],
            [b"key-json-%d" % i for i in range(3)],
        )
        produce(
            [
                orjson.dumps(
                    {"type": "tick", "seq": i, "user": {"uid": f"cust_u{i}", "email": EMAIL}}
                )
                for i in range(4)
            ],
            [b"key-uid-%d" % i for i in range(4)],
        )
        emu.script(
            [
                {"status": 400, "code": 3000, "message": "missing arguments"},
                {"status": 400, "code": 3000, "message": "missing arguments"},
                {"status": 422, "code": 3011, "message": "invalid event"},
            ],
            resource="events",
        )
        produce(
            [
                orjson.dumps({"type": "tick", "seq": 10 + i, "user": {"id": f"cust_s{i}"}})
                for i in range(7)
            ],
            [b"key-single-%d" % i for i in range(7)],
        )
        group = f"{topic}-group"
        with InProcessBridge(parse_config(data, env={})) as bridge:
            assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
            counters = bridge.stop()
        assert (counters.delivered, counters.dead_lettered) == (4, 10)

        # Batches: Gameball refuses the items of one customer (404, code 7000).
        emu.set_batch_item_faults(
            [
                {
                    "customers": ["cust_gone"],
                    "status": 404,
                    "code": 7000,
                    "message": "customer not found",
                }
            ]
        )
        produce(
            [
                orjson.dumps(
                    {
                        "type": "tick",
                        "seq": 20 + i,
                        "user": {"id": "cust_gone" if i < 2 else f"cust_b{i}"},
                    }
                )
                for i in range(8)
            ],
            [b"key-batch-%d" % i for i in range(8)],
        )
        batched = {**data, "delivery": {**data["delivery"], "batch": FAST_BATCHES}}
        with InProcessBridge(parse_config(batched, env={})) as bridge:
            assert wait_until(lambda: all_committed(bootstrap, group, topic), 60)
            counters = bridge.stop()
        assert (counters.delivered, counters.dead_lettered) == (6, 2)
        emu.reset()
        dlq = dead_letter_topic(topic)
        end = kafka_tools.end_offsets(bootstrap, dlq)[0]
        assert end == sum(EXPECTED.values())
        yield Incident(bootstrap, topic, dlq, data, emu, end, tmp_path_factory.mktemp("dlq"))


def shown(incident: Incident, *, samples: int = 0, **filters: Any) -> tuple[dict[str, Any], str]:
    """`show` as JSON over the incident's own dead letters, and its text form."""
    config = incident.config()
    bounds = Bounds(to_offset=incident.end - 1)
    out = io.StringIO()
    show(
        config,
        filters=Filters.of(**filters),
        bounds=bounds,
        samples=samples,
        as_json=True,
        out=out,
        err=io.StringIO(),
    )
    text = io.StringIO()
    show(
        config,
        filters=Filters.of(**filters),
        bounds=bounds,
        samples=samples,
        out=text,
        err=io.StringIO(),
    )
    return orjson.loads(out.getvalue()), text.getvalue()


def by_kind(doc: dict[str, Any]) -> dict[str, int]:
    return {row["kind"]: row["count"] for row in doc["by_kind"]}


def test_show_totals_match_what_was_dead_lettered(incident: Incident) -> None:
    doc, text = shown(incident)
    assert (doc["read"], doc["matched"]) == (12, 12)
    assert by_kind(doc) == EXPECTED
    assert {(r["http_status"], r["gameball_code"]): r["count"] for r in doc["by_code"]} == {
        (400, 3000): 2,
        (422, 3011): 1,
        (404, 7000): 2,
    }
    assert doc["by_source"] == [{"topic": incident.topic, "mapping": "shop-events", "count": 12}]
    assert sum(row["count"] for row in doc["by_hour"]) == 12
    reasons = {(r["kind"], r["reason"]): r["count"] for r in doc["top_reasons"]}
    assert [n for (kind, _), n in reasons.items() if kind == "missing_field"] == [4]
    assert any("customer not found" in reason and n == 2 for (_, reason), n in reasons.items())
    assert f"dead-letter topic {incident.dlq}: 12 read (of 12 offsets), 12 in all" in text


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kinds": ["mapping_failed"]}, {"invalid_json": 3, "missing_field": 4}),
        ({"kinds": ["gameball_refused"]}, {"rejected": 5}),
        ({"kinds": ["invalid_json"]}, {"invalid_json": 3}),
        ({"codes": [3000, 3011]}, {"rejected": 3}),
        ({"statuses": [404]}, {"rejected": 2}),
        ({"reason": "CUSTOMER NOT FOUND"}, {"rejected": 2}),
        (
            {"kinds": ["mapping_failed"], "mappings": ["shop-events"]},
            {"invalid_json": 3, "missing_field": 4},
        ),
        ({"mappings": ["other"]}, {}),
        ({"topics": ["other"]}, {}),
    ],
)
def test_show_filters_pick_the_right_dead_letters(
    incident: Incident, filters: dict[str, Any], expected: dict[str, int]
) -> None:
    doc, _text = shown(incident, **filters)
    assert by_kind(doc) == expected
    assert doc["matched"] == sum(expected.values())


def test_samples_are_masked_and_never_show_the_key(incident: Incident) -> None:
    doc, text = shown(incident, samples=2)
    assert {kind: len(s) for kind, s in doc["samples"].items()} == {
        "invalid_json": 2,
        "missing_field": 2,
        "rejected": 2,
    }
    for output in (text, orjson.dumps(doc).decode()):
        assert EMAIL not in output
        assert "key-" not in output  # no record key, of any kind
        assert "sha256:" in output
    json_sample = doc["samples"]["missing_field"][0]
    assert orjson.loads(json_sample["value"])["user"]["email"].startswith("sha256:")
    assert json_sample["headers"]["bridge.error.kind"] == "missing_field"
    assert json_sample["key"].endswith("bytes, not shown)")
    text_sample = doc["samples"]["invalid_json"][0]["value"]
    assert text_sample.startswith('{"type": "tick", "user": {"id": "cust_j')
    assert '"email": "sha256:' in text_sample


def test_the_command_prints_the_summary_and_reads_without_committing(incident: Incident) -> None:
    path = incident.config_file()
    groups_before = consumer_groups(incident.bootstrap)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "dlq",
            "show",
            "-c",
            str(path),
            "--to-offset",
            str(incident.end - 1),
            "--samples",
            "1",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    out = result.stdout.decode()
    print(out)
    assert result.returncode == 0, result.stderr.decode()
    assert "12 read (of 12 offsets), 12 in all" in out
    assert "gameball_refused" in out
    assert EMAIL not in out
    # It read without a group: none appeared on the cluster.
    assert consumer_groups(incident.bootstrap) == groups_before


def consumer_groups(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET})
    listed = admin.list_consumer_groups(request_timeout=10).result(10)
    return {group.group_id for group in listed.valid}


def test_follow_prints_new_dead_letters_as_they_arrive(incident: Incident) -> None:
    start = incident.dlq_end()
    headers = [
        ("bridge.error.kind", b"rejected"),
        ("bridge.error.message", b"events: missing arguments"),
        ("bridge.error.http_status", b"400"),
        ("bridge.error.gameball_code", b"3000"),
        ("bridge.source.topic", incident.topic.encode()),
        ("bridge.source.partition", b"0"),
        ("bridge.source.offset", b"99"),
    ]
    out = io.StringIO()
    produced = False
    polls = 0

    def should_stop() -> bool:
        nonlocal produced, polls
        polls += 1
        if "following" in out.getvalue() and not produced:
            kafka_tools.produce(incident.bootstrap, incident.dlq, [b"{}"], headers=[headers])
            produced = True
        return "missing arguments" in out.getvalue().split("following", 1)[-1] or polls > 200

    show(
        incident.config(),
        bounds=Bounds(from_offset=start),
        follow=True,
        out=out,
        err=io.StringIO(),
        should_stop=should_stop,
    )
    after = out.getvalue().split("following", 1)[1]
    assert (
        f"{incident.dlq}[0]@{start}  {incident.topic}[0]@99  rejected (HTTP 400, code 3000)"
        in after
    )


# -- replays -----------------------------------------------------------------------------------


def fixed(incident: Incident) -> dict[str, Any]:
    """The config with the mapping fixed: the producer renamed user.id to user.uid."""
    data = orjson.loads(orjson.dumps(incident.data))
    data["mappings"][0]["event"]["customer_id"] = "user.uid"
    return dict(data)


def test_a_dry_run_says_what_the_current_mappings_make_of_the_chosen_dead_letters(
    incident: Incident,
) -> None:
    before = incident.dlq_end()
    bounds = Bounds(to_offset=incident.end - 1)
    broken = incident.config()
    report = dry_run(broken, Selection.of(broken, Filters.of(kinds=["mapping_failed"])), bounds)
    doc = report.as_dict()
    assert (doc["read"], doc["chosen"], doc["not_matching"], doc["held_back"]) == (12, 7, 5, 0)
    assert doc["would_send"] == {"records": 0, "operations": {}}
    assert {r["kind"]: r["count"] for r in doc["would_fail_again"]} == {
        "missing_field": 4,
        "invalid_json": 3,
    }

    config = parse_config(fixed(incident), env={})
    selection = Selection.of(config, Filters.of(kinds=["mapping_failed"], mappings=["shop-events"]))
    report = dry_run(config, selection, bounds)
    doc = report.as_dict()
    assert doc["would_send"] == {"records": 4, "operations": {"events": 4}}
    assert {r["kind"]: r["count"] for r in doc["would_fail_again"]} == {"invalid_json": 3}
    print(report.render(incident.dlq))
    # Nothing was sent, dead-lettered or committed.
    assert incident.emulator.received() == []
    assert incident.dlq_end() == before

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "dlq",
            "replay",
            "-c",
            str(incident.config_file(fixed(incident))),
            "--to-offset",
            str(incident.end - 1),
            "--kind",
            "mapping_failed",
            "--mapping",
            "shop-events",
            "--dry-run",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    print(result.stdout.decode())
    assert result.returncode == 0, result.stderr.decode()
    assert (
        "would send                              4  record(s): 4 events" in result.stdout.decode()
    )


def test_a_selective_replay_sends_only_the_chosen_kind(incident: Incident) -> None:
    before = incident.dlq_end()
    incident.emulator.reset()
    config = parse_config(fixed(incident), env={})
    selection = Selection.of(config, Filters.of(kinds=["missing_field"]))
    ranges = dead_letters.plan(config, to_offset=incident.end - 1)
    counters = asyncio.run(dead_letters.replay(config, ranges, selection=selection))
    assert (selection.chosen, selection.not_matching, selection.held_back) == (4, 8, 0)
    assert (counters.received, counters.delivered, counters.dead_lettered) == (4, 4, 0)
    bodies = [r.body for r in incident.emulator.received("events")]
    assert sorted(b["customerId"] for b in bodies) == [f"cust_u{i}" for i in range(4)]
    assert incident.emulator.received() == incident.emulator.received("events")
    assert incident.dlq_end() == before  # nothing else was tried, so nothing failed again


def test_the_loop_guard_stops_the_third_replay_of_a_record_that_keeps_failing(
    incident: Incident,
) -> None:
    config = incident.config()
    only_json = Filters.of(kinds=["invalid_json"])

    def replay(from_offset: int | None, to_offset: int | None, **guard: Any) -> Selection:
        selection = Selection.of(config, only_json, **guard)
        ranges = dead_letters.plan(config, from_offset=from_offset, to_offset=to_offset)
        asyncio.run(dead_letters.replay(config, ranges, selection=selection))
        return selection

    # Each replay sends the dead letters the previous one wrote: they fail again, the same way.
    first_new = incident.dlq_end()
    assert replay(None, incident.end - 1).chosen == 3
    second_new = incident.dlq_end()
    assert second_new == first_new + 3
    assert replay(first_new, None).chosen == 3
    third_new = incident.dlq_end()
    assert third_new == second_new + 3

    counts = [
        r.headers.get("bridge.replay.failures")
        for r in kafka_tools.read_topic(incident.bootstrap, incident.dlq)[first_new:]
    ]
    assert counts == [b"1"] * 3 + [b"2"] * 3
    out = io.StringIO()
    summary = show(config, bounds=Bounds(from_offset=first_new), out=out, err=io.StringIO())
    assert (summary.replayed, summary.failed_again) == (6, 6)

    # The third replay: held back, nothing sent, nothing dead-lettered again.
    held = replay(second_new, None)
    assert (held.chosen, held.held_back, held.held_back_by_kind) == (0, 3, {"invalid_json": 3})
    assert incident.dlq_end() == third_new
    # Unless forced; a higher limit lets them through too.
    assert replay(second_new, third_new - 1, max_failed_replays=3).chosen == 3
    assert replay(second_new, third_new - 1, force=True).chosen == 3
    assert incident.dlq_end() == third_new + 6
