"""The bridge config the benchmarks run: one topic and its dead-letter topic on the local
broker, the emulator as Gameball, one event mapping."""

from __future__ import annotations

import uuid
from typing import Any

from _emulator import API_KEY

from bridge.kafka.admin import ensure_topics
from bridge.sandbox import kafka_tools


def create_topic(bootstrap: str, prefix: str, partitions: int) -> str:
    """Create ``<prefix>-<random>`` with `partitions`, and its dead-letter topic (one
    partition) under the name `bridge_config` gives it; return the topic's name."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {topic: partitions, f"{topic}-dlq": 1},
    )
    return topic


def bridge_config(
    bootstrap: str,
    url: str,
    topic: str,
    *,
    group: str,
    gameball: dict[str, Any] | None = None,
    metadata: bool = True,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    """A `BridgeConfig`-shaped dict: `gameball` adds to the emulator's URL and key, `sections`
    (``delivery=``, ``logging=``) are top-level sections as given; with `metadata` each event
    carries the record's ``seq``."""
    event: dict[str, Any] = {"customer_id": "user.id", "name": {"path": "type"}}
    if metadata:
        event["metadata"] = {"seq": "seq"}
    return {
        "kafka": {"bootstrap_servers": bootstrap, "group_id": group},
        "gameball": {"base_url": url, "api_key": API_KEY, **(gameball or {})},
        "dead_letter": {"topic": f"{topic}-dlq"},
        **sections,
        "mappings": [{"name": "m", "topics": [topic], "event": event}],
    }
