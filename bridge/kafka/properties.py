"""The one place that renders librdkafka properties from the bridge's config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from bridge.kafka.security import librdkafka_properties
from bridge.kafka.settings import DeadLetterConfig, KafkaConfig

log = structlog.get_logger("bridge.kafka")

# The producer's cap on one dead letter (librdkafka's message.max.bytes) unless
# dead_letter.properties sets its own.
DEAD_LETTER_MAX_BYTES = 64 * 1024 * 1024

INSTANCE_ID = "group.instance.id"

# librdkafka's syslog levels -> ours.
_LEVELS = {
    0: "critical",
    1: "critical",
    2: "critical",
    3: "error",
    4: "warning",
    5: "info",
    6: "info",
    7: "debug",
}


class _LibrdkafkaLog:
    """Receives librdkafka's own log lines (confluent-kafka calls `.log()`) so that they come
    out as structured `kafka.client_log` lines instead of raw text on stderr."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("bridge.kafka")

    def log(self, level: int, fmt: str, *args: Any) -> None:
        text = fmt % args if args else fmt
        name = "debug" if level >= 6 else _LEVELS.get(level, "warning")
        getattr(self._log, name)("kafka.client_log", message=text)


def _common(kafka: KafkaConfig) -> dict[str, Any]:
    # Every client (consumer, dead-letter producer, `bridge check`, replays) is built from
    # this, so they all reach the cluster the same way. The config refuses a `security` block
    # and `properties` that set the same key; without a block, `properties` may still set
    # security.protocol, sasl.* and ssl.* themselves, so they go last.
    if kafka.security.hostname_unverified:
        # Once per client, so at every start: whoever reads the logs may not know it was forced.
        log.warning("kafka.tls_hostname_unverified", bootstrap_servers=kafka.bootstrap_servers)
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "logger": _LibrdkafkaLog(),
        **librdkafka_properties(kafka.security),
        **kafka.properties,
    }


def consumer_properties(kafka: KafkaConfig) -> dict[str, Any]:
    props: dict[str, Any] = {
        "partition.assignment.strategy": "cooperative-sticky",
        "auto.offset.reset": kafka.auto_offset_reset,
        "session.timeout.ms": kafka.session_timeout_ms,
        "max.poll.interval.ms": kafka.max_poll_interval_ms,
        "enable.partition.eof": False,
        # librdkafka prefetches up to 64 MiB by default; the engine holds its own bounded
        # backlog, so a smaller read-ahead keeps memory flat at no cost in throughput.
        "queued.max.messages.kbytes": 16 * 1024,
        # And up to 100,000 messages a partition: small records (100 bytes) fill the bytes
        # bound only at ~270,000, each with ~130 bytes of librdkafka's own (31 MB of RSS with
        # a 1,000,000-record backlog, bench/backlog_memory.py). 10,000 a partition still
        # covers the engine's largest bound (delivery.batch.max_in_flight) several times.
        "queued.min.messages": 10_000,
    }
    props.update(_common(kafka))
    # Set last, so that no user property can undo them: an offset is committed by the bridge,
    # explicitly, and only once its record is done.
    props.update(
        {
            "group.id": kafka.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    if kafka.group_protocol == "consumer":
        # KIP-848: librdkafka refuses these with the new protocol; the broker's
        # group.consumer.session.timeout.ms and its server-side assignor take their place.
        props["group.protocol"] = "consumer"
        for key in ("partition.assignment.strategy", "session.timeout.ms"):
            props.pop(key, None)
    if kafka.instance_id:
        props[INSTANCE_ID] = kafka.instance_id
    return props


def without_membership(props: Mapping[str, Any]) -> dict[str, Any]:
    """`props` for a client that reads without joining the group (`bridge check`, offset
    look-ups, replays): carrying the live instance id, one that commits would be fenced as,
    or fence, the running bridge holding it."""
    return {k: v for k, v in props.items() if k != INSTANCE_ID}


def producer_properties(kafka: KafkaConfig, dead_letter: DeadLetterConfig) -> dict[str, Any]:
    props: dict[str, Any] = {
        # A dead letter counts only once every in-sync replica has it.
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
        # A dead letter is its source record plus headers, and may be one that was too large
        # to map (over max_record_bytes): librdkafka's default cap (1,000,000 bytes, the same
        # as max_record_bytes') would refuse exactly those. The broker's max.message.bytes of
        # the dead-letter topic still applies (docs/production.md); lz4 makes JSON smaller
        # than that cap more often.
        "message.max.bytes": max(DEAD_LETTER_MAX_BYTES, 2 * dead_letter.max_record_bytes),
        "compression.type": "lz4",
    }
    props.update(_common(kafka))
    props.update(dead_letter.properties)
    return props
