"""The one place that renders librdkafka properties from the bridge's config."""

from __future__ import annotations

from typing import Any

from bridge.config import DeadLetterConfig, KafkaConfig


def _common(kafka: KafkaConfig) -> dict[str, Any]:
    # User properties (security.protocol, sasl.*, ssl.*, ...) apply to every client, so the
    # dead-letter producer reaches the same cluster the same way.
    return {"bootstrap.servers": kafka.bootstrap_servers, **kafka.properties}


def consumer_properties(kafka: KafkaConfig) -> dict[str, Any]:
    props: dict[str, Any] = {
        "partition.assignment.strategy": "cooperative-sticky",
        "auto.offset.reset": kafka.auto_offset_reset,
        "session.timeout.ms": kafka.session_timeout_ms,
        "max.poll.interval.ms": kafka.max_poll_interval_ms,
        "enable.partition.eof": False,
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
    return props


def producer_properties(kafka: KafkaConfig, dead_letter: DeadLetterConfig) -> dict[str, Any]:
    props: dict[str, Any] = {
        # A dead letter counts only once every in-sync replica has it.
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
    }
    props.update(_common(kafka))
    props.update(dead_letter.properties)
    return props
