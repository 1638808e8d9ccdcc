"""Records whose schema the registry must give first: held per partition, in order, while
the registry is out (nothing dead-lettered, nothing committed past them), then delivered;
other partitions go on meanwhile. The registry is confluent-kafka's in-memory one, with an
outage switch in front of its schema lookups."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.common._httpx_compat import httpx as registry_httpx
from confluent_kafka.serialization import MessageField, SerializationContext

from bridge.backoff import Backoff
from bridge.config import parse_config
from bridge.decoding.registry import SchemaRegistry
from bridge.engine.pipeline import Pipeline
from bridge.gameball.sender import GameballSender
from bridge.mapping.mapper import Mapper
from bridge.record import SourceRecord
from tests.support import TP0, TP1, FakeDeadLetters, FakeSource
from tests.unit.engine.harness import running, until

V1 = {
    "type": "record",
    "name": "Purchase",
    "fields": [{"name": "customer", "type": "string"}, {"name": "n", "type": "long"}],
}
# Compatible: a new optional field.
V2 = {
    **V1,
    "fields": [*V1["fields"], {"name": "coupon", "type": ["null", "string"], "default": None}],
}


class FlakyRegistry(SchemaRegistry):
    """The in-memory registry, whose schema lookups fail like an unreachable one while
    `down` is set; counts the lookups that would have been requests. As the real client does,
    a schema fetched once is answered from its cache, registry down or not."""

    def __init__(self) -> None:
        super().__init__(SchemaRegistry.in_memory().client)
        self.down = False
        self.lookups = 0
        real = self.client.get_schema
        fetched: set[int] = set()

        def get_schema(schema_id: int, *args: Any, **kwargs: Any) -> Any:
            if schema_id not in fetched:
                if self.down:
                    raise registry_httpx.ConnectError("connection refused")
                self.lookups += 1
                fetched.add(schema_id)
            return real(schema_id, *args, **kwargs)

        self.client.get_schema = get_schema  # type: ignore[method-assign]


def encode(registry: SchemaRegistry, schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    serializer = AvroSerializer(registry.client, json.dumps(schema))
    data = serializer(value, SerializationContext("t", MessageField.VALUE))
    assert data is not None
    return data


def purchase(
    registry: SchemaRegistry,
    schema: dict[str, Any],
    partition: int,
    offset: int,
    *,
    n: int | None = None,
    customer: str = "a",
) -> SourceRecord:
    value = {"customer": customer, "n": offset if n is None else n}
    if schema is V2:
        value["coupon"] = None
    return SourceRecord("t", partition, offset, encode(registry, schema, value))


def build(
    source: FakeSource, registry: SchemaRegistry, sent: list[int], **delivery: Any
) -> tuple[Pipeline, FakeDeadLetters]:
    config = parse_config(
        {
            "kafka": {"bootstrap_servers": "unused:9092"},
            "gameball": {"base_url": "https://gb.test", "api_key": "k"},
            "dead_letter": {"topic": "dlq"},
            "schema_registry": {"url": "http://unused.test"},
            "delivery": {"commit_interval": 0.01, "drain_timeout": 5, **delivery},
            "mappings": [
                {
                    "name": "m",
                    "topics": ["t"],
                    "format": "avro",
                    "event": {
                        "customer_id": "customer",
                        "name": {"const": "buy"},
                        "metadata": {"n": "n"},
                    },
                }
            ],
        },
        env={},
    )

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(orjson.loads(request.content)["events"]["buy"]["n"])
        return httpx.Response(200)

    dead = FakeDeadLetters()
    pipeline = Pipeline(
        config.delivery,
        source=source,
        sender=GameballSender(config.gameball, transport=httpx.MockTransport(handler)),
        dead_letters=dead,
        mapper=Mapper(config.mappings, max_record_bytes=10_000, registry=registry),
        schema_backoff=Backoff(0.01, 0.02),
    )
    return pipeline, dead


def test_an_outage_holds_the_partition_in_order_and_everything_is_delivered_after() -> None:
    registry = FlakyRegistry()
    # Partition 1's schema is fetched before the outage; partition 0's (v2) is new during it.
    p1 = [
        SourceRecord("t", 1, i, encode(registry, V1, {"customer": "b", "n": 100 + i}))
        for i in range(3)
    ]
    p0 = [purchase(registry, V2, 0, i) for i in range(5)]
    source = FakeSource(p1[:1])
    sent: list[int] = []
    pipeline, dead = build(source, registry, sent)

    async def scenario() -> None:
        async with running(pipeline):
            await until(lambda: sent == [100])
            registry.down = True
            source.batches.append(p0 + p1[1:])
            await until(lambda: sorted(sent) == [100, 101, 102])  # partition 1 goes on
            await asyncio.sleep(0.1)  # many retries of the registry
            status = await pipeline.status()
            assert status.held_for_schema == 5
            assert pipeline.in_flight == 5
            assert source.last_commit(TP0) is None  # nothing committed past a held record
            registry.down = False
            await until(lambda: len(sent) == 8)
            await until(lambda: source.last_commit(TP0) == 5)

    asyncio.run(scenario())
    assert [n for n in sent if n < 100] == [0, 1, 2, 3, 4]  # in offset order
    assert dead.written == []
    assert source.last_commit(TP1) == 3
    assert pipeline.in_flight == 0


def test_the_registry_is_asked_once_per_schema_not_once_per_record() -> None:
    registry = FlakyRegistry()
    records = [
        SourceRecord("t", 0, i, encode(registry, V1, {"customer": "a", "n": i})) for i in range(20)
    ]
    source = FakeSource(records[:10], records[10:])
    sent: list[int] = []
    pipeline, _ = build(source, registry, sent)

    async def scenario() -> None:
        async with running(pipeline):
            await until(lambda: len(sent) == 20)

    asyncio.run(scenario())
    assert registry.lookups == 1
    assert sent == list(range(20))


def test_a_revoked_partition_drops_its_held_records_uncommitted() -> None:
    registry = FlakyRegistry()
    registry.down = True
    records = [
        SourceRecord("t", 0, i, encode(registry, V1, {"customer": "a", "n": i})) for i in range(4)
    ]
    source = FakeSource(records)
    sent: list[int] = []
    pipeline, dead = build(source, registry, sent, drain_timeout=0.05)

    async def scenario() -> None:
        async with running(pipeline):
            await until(lambda: pipeline.in_flight == 4)
            assert await pipeline.partitions_revoked([TP0]) == {}
            source.assigned = [TP1]
            assert pipeline.in_flight == 0
            registry.down = False
            await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert sent == []  # the next owner sends them
    assert dead.written == []
    assert source.last_commit(TP0) is None


def test_an_unknown_schema_id_is_dead_lettered_with_the_id_and_the_rest_flow() -> None:
    registry = FlakyRegistry()
    good = encode(registry, V1, {"customer": "a", "n": 1})
    unknown = b"\x00" + (4242).to_bytes(4, "big") + good[5:]
    source = FakeSource([SourceRecord("t", 0, 0, unknown), SourceRecord("t", 0, 1, good)])
    sent: list[int] = []
    pipeline, dead = build(source, registry, sent)

    async def scenario() -> None:
        async with running(pipeline):
            await until(lambda: source.last_commit(TP0) == 2)

    asyncio.run(scenario())
    assert sent == [1]
    [(record, reason)] = dead.written
    assert record.offset == 0
    assert reason.kind == "decode_failed"
    assert reason.schema_id == 4242
    assert "4242" in reason.message
    headers = dict(reason.headers(record, datetime.now(UTC)))
    assert headers["bridge.error.schema_id"] == b"4242"


class PartitionedSource(FakeSource):
    """Records queued per partition; a paused partition hands out nothing, the others go on
    (as librdkafka pauses partitions one by one)."""

    def __init__(self) -> None:
        super().__init__()
        self.queues: dict[tuple[str, int], list[SourceRecord]] = {TP0: [], TP1: []}
        self.paused_now: set[tuple[str, int]] = set()

    async def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        out: list[SourceRecord] = []
        for tp, queue in self.queues.items():
            if tp not in self.paused_now:
                take = queue[: max_records - len(out)]
                del queue[: len(take)]
                out += take
        if not out:
            await asyncio.sleep(0.005)
        return out

    async def pause(self, partitions: list[tuple[str, int]]) -> None:
        self.paused.append(partitions)
        self.paused_now.update(partitions)

    async def resume(self, partitions: list[tuple[str, int]]) -> None:
        self.resumed.append(partitions)
        self.paused_now.difference_update(partitions)


def test_records_held_for_a_schema_pause_their_own_partition_not_the_others() -> None:
    # The bound is 10 records in flight; partition 0 has 40 records of a schema the registry
    # cannot give (it is down). They count against partition 0's own share of the bound: it
    # pauses alone, and partition 1 (its schema already known) keeps flowing.
    registry = FlakyRegistry()
    warm = SourceRecord("t", 1, 0, encode(registry, V1, {"customer": "b", "n": 100}))
    source = PartitionedSource()
    source.queues[TP1].append(warm)
    sent: list[int] = []
    pipeline, dead = build(source, registry, sent, max_in_flight=10)

    async def scenario() -> None:
        async with running(pipeline):
            await until(lambda: sent == [100])
            registry.down = True
            source.queues[TP0] += [purchase(registry, V2, 0, i) for i in range(40)]
            await until(lambda: (len(pipeline._holds)) >= 5)
            source.queues[TP1] += [
                SourceRecord("t", 1, i, encode(registry, V1, {"customer": f"c{i}", "n": 100 + i}))
                for i in range(1, 60)
            ]
            await until(lambda: len(sent) == 60, timeout=5)
            await until(lambda: source.last_commit(TP1) == 60)
            await until(lambda: TP1 not in source.paused_now)
            assert TP0 in source.paused_now  # partition 0 waits, alone
            assert source.last_commit(TP0) is None
            held = (await pipeline.status()).held_for_schema
            assert 5 <= held < 40  # paused at its share, not read to the end
            registry.down = False
            await until(lambda: len(sent) == 100, timeout=5)
            await until(lambda: source.last_commit(TP0) == 40)

    asyncio.run(scenario())
    assert [n for n in sent if n < 100] == list(range(40))  # in offset order
    assert dead.written == []
