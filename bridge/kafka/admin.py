"""Topic administration used by the demo, the tests and `bridge check`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bridge.errors import KafkaClientError
from bridge.kafka.properties import without_membership


def ensure_topics(
    props: Mapping[str, Any], topics: Mapping[str, int], *, timeout: float = 30.0
) -> None:
    """Create each topic with the given partition count unless it exists already."""
    admin = AdminClient(dict(props))
    existing = admin.list_topics(timeout=timeout).topics
    wanted = [
        NewTopic(name, num_partitions=parts, replication_factor=1)
        for name, parts in topics.items()
        if name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise KafkaClientError(f"cannot create topic {name}: {exc}") from exc


def offset_ranges(
    props: Mapping[str, Any],
    topic: str,
    *,
    from_offset: int | None = None,
    to_offset: int | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    timeout: float = 30.0,
) -> dict[tuple[str, int], tuple[int, int]]:
    """Per partition of `topic`, the offsets ``[start, end)`` between the given bounds:
    offsets (the same for every partition) or times (epoch ms, resolved per partition);
    unbounded ends mean the partition's current start and end."""
    consumer = Consumer(
        {
            **without_membership(props),
            "group.id": "bridge-offset-lookup",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None:
            raise KafkaClientError(f"topic {topic} does not exist or cannot be read")
        ranges: dict[tuple[str, int], tuple[int, int]] = {}
        for partition in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            start, end = low, high
            if from_offset is not None:
                start = max(start, from_offset)
            if to_offset is not None:
                end = min(end, to_offset + 1)
            if from_ms is not None:
                start = max(start, _offset_at(consumer, topic, partition, from_ms, high, timeout))
            if to_ms is not None:
                end = min(end, _offset_at(consumer, topic, partition, to_ms + 1, high, timeout))
            ranges[(topic, partition)] = (start, max(start, end))
        return ranges
    except KafkaException as exc:
        raise KafkaClientError(f"cannot read the offsets of {topic}: {exc}") from exc
    finally:
        consumer.close()


def _offset_at(
    consumer: Consumer, topic: str, partition: int, ms: int, high: int, timeout: float
) -> int:
    """The first offset with a timestamp at or after `ms` (the end when there is none)."""
    [found] = consumer.offsets_for_times([TopicPartition(topic, partition, ms)], timeout=timeout)
    return found.offset if found.offset >= 0 else high


def describe_topics(
    props: Mapping[str, Any], specs: Iterable[str], *, timeout: float = 10.0
) -> dict[str, dict[str, int]]:
    """Per topic spec, the existing topics it names and their partition counts: a name gives
    itself (or nothing when it does not exist), a pattern (starting with "^") every matching
    topic. Raises `KafkaClientError` when the cluster cannot be reached."""
    errors: list[KafkaError] = []
    consumer = Consumer(
        {
            **without_membership(props),
            "group.id": "bridge-check",
            "enable.auto.commit": False,
            "error_cb": errors.append,
        }
    )
    try:
        listed = consumer.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        # The exception only says "transport failure"; why (a refused certificate, wrong
        # credentials) went to the error callback, which runs inside poll().
        consumer.poll(0)
        raise KafkaClientError(f"cannot list the topics: {_reason(exc, errors)}") from exc
    finally:
        consumer.close()
    existing = {name: len(meta.partitions) for name, meta in listed.items() if meta.error is None}
    found: dict[str, dict[str, int]] = {}
    for spec in specs:
        if spec.startswith("^"):
            # Internal topics (__consumer_offsets, ...) are never subscribed to by a pattern.
            pattern = re.compile(spec)
            found[spec] = {
                name: parts
                for name, parts in sorted(existing.items())
                if not name.startswith("__") and pattern.match(name)
            }
        else:
            found[spec] = {spec: existing[spec]} if spec in existing else {}
    return found


@dataclass(frozen=True, slots=True)
class InstanceHolder:
    """The group member that holds an instance id now."""

    member_id: str
    client_id: str
    host: str


def instance_holder(
    props: Mapping[str, Any], group: str, instance_id: str, *, timeout: float = 10.0
) -> InstanceHolder | None:
    """The member of `group` holding `instance_id` now (None: no member does). Raises
    `KafkaClientError` when the group cannot be described."""
    admin = AdminClient(admin_properties(props))
    try:
        [future] = admin.describe_consumer_groups([group], request_timeout=timeout).values()
        description = future.result(timeout)
    except KafkaException as exc:
        raise KafkaClientError(f"cannot describe group {group}: {exc.args[0]}") from exc
    for member in description.members:
        if member.group_instance_id == instance_id:
            return InstanceHolder(member.member_id, member.client_id, member.host)
    return None


# Consumer properties an AdminClient does not take (librdkafka warns about each).
_CONSUMER_ONLY = {
    "group.id",
    "partition.assignment.strategy",
    "auto.offset.reset",
    "session.timeout.ms",
    "max.poll.interval.ms",
    "enable.partition.eof",
    "queued.max.messages.kbytes",
    "queued.min.messages",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "group.protocol",
}


def admin_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    """A consumer's properties as an AdminClient takes them: no membership, no
    consumer-only keys."""
    return {k: v for k, v in without_membership(props).items() if k not in _CONSUMER_ONLY}


# What to look at when librdkafka could not connect for one of these reasons.
_HINTS = {
    KafkaError._SSL: (
        "check kafka.security: protocol, and tls.ca_file (the CA that signed the brokers' "
        "certificates; unset, the system's) or tls.cert_file/key_file if the brokers require "
        "a client certificate"
    ),
    KafkaError._AUTHENTICATION: (
        "check kafka.security.sasl: mechanism, and username/password or oauthbearer"
    ),
}


def _reason(exc: KafkaException, errors: list[KafkaError]) -> str:
    """The first connection error librdkafka reported, with what to check; else `exc`."""
    for err in errors:
        # A broker refusing our certificate (or its absence) arrives as a failed receive
        # carrying OpenSSL's alert, not as an _SSL error.
        code = KafkaError._SSL if "SSL routines" in err.str() else err.code()
        if code in _HINTS:
            return f"{err.str()}; {_HINTS[code]}"
    for err in errors:
        if err.code() != KafkaError._ALL_BROKERS_DOWN:
            return str(err.str())
    return str(exc)
