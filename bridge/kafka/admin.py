"""Topic administration used by the demo, the tests and `bridge check`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bridge.errors import KafkaClientError


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
