"""`kafka.instance_id` (static membership): how it is rendered and refused, and what
`KafkaSource` does with it at shutdown and when fenced, against a scripted consumer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.config import parse_config
from bridge.errors import ConfigError, KafkaClientError
from bridge.kafka.consumer import KafkaSource, leaves_group_on_close
from bridge.kafka.properties import consumer_properties, without_membership
from bridge.kafka.range_source import RangeSource
from bridge.kafka.settings import KafkaConfig
from bridge.record import OffsetCommit, TopicPartition

FENCED_TEXT = (
    "Fatal error: Broker: Static consumer fenced by other consumer with same "
    "group.instance.id: Fatal consumer error: Broker: Static consumer fenced by other "
    "consumer with same group.instance.id"
)


def kafka(**keys: Any) -> KafkaConfig:
    return KafkaConfig(bootstrap_servers="127.0.0.1:1", **keys)


def parse(**kafka_keys: Any) -> Any:
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1", **kafka_keys},
            "gameball": {"base_url": "http://gb.test", "api_key": "k"},
            "dead_letter": {"topic": "dlq"},
            "mappings": [
                {"name": "app", "topics": ["app"], "event": {"customer_id": "u", "name": "t"}}
            ],
        },
        source="conf.yaml",
        env={},
    )


# -- rendering and validation ------------------------------------------------------------------


def test_an_instance_id_is_rendered_as_group_instance_id() -> None:
    props = consumer_properties(kafka(instance_id="bridge-7f9c4-x2x8z"))
    assert props["group.instance.id"] == "bridge-7f9c4-x2x8z"
    assert props["session.timeout.ms"] == 45_000


def test_without_an_instance_id_the_member_is_dynamic() -> None:
    assert "group.instance.id" not in consumer_properties(kafka())


def test_clients_that_do_not_join_the_group_drop_the_id() -> None:
    props = consumer_properties(kafka(instance_id="web-0"))
    stripped = without_membership(props)
    assert "group.instance.id" not in stripped
    assert stripped["group.id"] == props["group.id"]
    ranges = RangeSource(kafka(instance_id="web-0"), {("t", 0): (0, 5)})
    assert "group.instance.id" not in ranges._props


def test_group_instance_id_in_properties_is_refused_pointing_at_instance_id() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(properties={"group.instance.id": "web-0", "client.id": "x"})
    assert "group.instance.id is managed by the bridge: set kafka.instance_id" in str(caught.value)


@pytest.mark.parametrize("bad", ["web 0", "pod/0", ".", "..", "x" * 250, "ünï"])
def test_an_id_the_broker_would_refuse_is_refused_at_load(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(instance_id=bad)
    assert "kafka.instance_id" in str(caught.value)
    assert "not a valid instance id" in str(caught.value)


@pytest.mark.parametrize(
    ("keys", "leaves"),
    [
        ({}, False),  # dynamic: close() leaves by itself
        ({"instance_id": "pod-abc"}, True),  # a Deployment: the name never comes back
        ({"instance_id": "web-0", "leave_group_on_shutdown": False}, False),  # StatefulSet
        ({"leave_group_on_shutdown": False}, False),
    ],
)
def test_the_leave_on_shutdown_choice(keys: dict[str, Any], leaves: bool) -> None:
    assert leaves_group_on_close(kafka(**keys)) is leaves


def test_leaving_is_the_default() -> None:
    assert parse(instance_id="pod-abc").kafka.leave_group_on_shutdown is True


# -- shutdown and fencing, against a scripted consumer --------------------------------------


@dataclass
class Msg:
    err: KafkaError | None

    def error(self) -> KafkaError | None:
        return self.err


@dataclass
class ScriptedConsumer:
    """librdkafka's behaviour as measured on a real broker: unsubscribe() only queues the
    revoke, the next consume() runs it and the member then leaves (its id cleared); close()
    revokes what is still assigned."""

    source: KafkaSource
    calls: list[str] = field(default_factory=list)
    assigned: list[KafkaTopicPartition] = field(
        default_factory=lambda: [KafkaTopicPartition("t", 0), KafkaTopicPartition("t", 1)]
    )
    member: str | None = "web-0-uuid"
    pending_revoke: bool = False
    errors: list[KafkaError] = field(default_factory=list)

    def assignment(self) -> list[KafkaTopicPartition]:
        return list(self.assigned)

    def memberid(self) -> str | None:
        return self.member

    def unsubscribe(self) -> None:
        self.calls.append("unsubscribe")
        self.pending_revoke = True

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        self.calls.append("consume")
        if self.errors:
            return [Msg(self.errors.pop(0))]
        if self.pending_revoke:
            self.pending_revoke = False
            self._revoke()
            self.member = None
        return []

    def commit(self, offsets: list[KafkaTopicPartition], asynchronous: bool) -> list[Any]:
        self.calls.append("commit " + ",".join(f"{tp.partition}@{tp.offset}" for tp in offsets))
        return offsets

    def close(self) -> None:
        self.calls.append("close")
        if self.assigned:
            self._revoke()

    def _revoke(self) -> None:
        self.source._on_revoke(self, self.assignment())
        self.assigned = []


class Engine:
    def __init__(self) -> None:
        self.revoked: list[list[TopicPartition]] = []
        self.lost: list[list[TopicPartition]] = []

    async def partitions_assigned(
        self, partitions: list[TopicPartition], committed: dict[TopicPartition, OffsetCommit]
    ) -> None:
        raise AssertionError("not in these tests")

    async def partitions_revoked(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetCommit]:
        # On the event loop, as the engine's own code runs.
        asyncio.get_running_loop()
        self.revoked.append(partitions)
        return {tp: OffsetCommit(10 + tp[1], "") for tp in partitions}

    async def partitions_lost(self, partitions: list[TopicPartition]) -> None:
        self.lost.append(partitions)


def closing(config: KafkaConfig, *errors: KafkaError) -> tuple[ScriptedConsumer, Engine]:
    """Close a source over a scripted consumer (after a poll, when `errors` are given)."""
    source = KafkaSource(config, ["t"])
    engine = Engine()
    consumer = ScriptedConsumer(source, errors=list(errors))

    async def main() -> None:
        source._listener = engine
        source._loop = asyncio.get_running_loop()
        source._consumer = consumer
        if errors:
            with pytest.raises(KafkaClientError) as caught:
                await source.poll(10, 0.1)
            assert "'web-0' was taken over" in str(caught.value)
        await source.close()

    asyncio.run(main())
    return consumer, engine


def test_a_leaving_static_member_unsubscribes_and_commits_in_the_revoke_before_close() -> None:
    consumer, engine = closing(kafka(instance_id="web-0"))
    assert consumer.calls == ["unsubscribe", "consume", "commit 0@10,1@11", "close"]
    assert engine.revoked == [[("t", 0), ("t", 1)]], "revoked, and so committed, once"
    assert engine.lost == []


@pytest.mark.parametrize("keys", [{"instance_id": "web-0", "leave_group_on_shutdown": False}, {}])
def test_otherwise_close_revokes_and_commits(keys: dict[str, Any]) -> None:
    consumer, engine = closing(kafka(**keys))
    assert consumer.calls == ["close", "commit 0@10,1@11"]
    assert engine.revoked == [[("t", 0), ("t", 1)]]


@pytest.mark.parametrize(
    "error",
    [
        KafkaError(KafkaError._FATAL, FENCED_TEXT),  # how consume() hands it out
        KafkaError(KafkaError.FENCED_INSTANCE_ID, "fenced", fatal=True),  # the error callback
    ],
)
def test_a_fenced_member_stops_and_commits_nothing(error: KafkaError) -> None:
    consumer, engine = closing(kafka(instance_id="web-0"), error)
    # No leave (the id is someone else's now), no commit; what close() revokes is lost.
    assert consumer.calls == ["consume", "close"]
    assert engine.revoked == []
    assert engine.lost == [[("t", 0), ("t", 1)]]
