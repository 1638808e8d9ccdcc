"""kafka.group_protocol: the classic protocol (JoinGroup/SyncGroup, cooperative-sticky) by
default, or KIP-848's consumer protocol, whose session timeout and assignor are the broker's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bridge.kafka.properties import consumer_properties
from bridge.kafka.settings import KafkaConfig


def kafka(**fields: Any) -> KafkaConfig:
    return KafkaConfig.model_validate({"bootstrap_servers": "127.0.0.1:9092", **fields})


def test_the_classic_protocol_is_the_default_with_the_cooperative_assignor() -> None:
    props = consumer_properties(kafka())
    assert "group.protocol" not in props
    assert props["partition.assignment.strategy"] == "cooperative-sticky"
    assert props["session.timeout.ms"] == 45_000


def test_the_consumer_protocol_leaves_the_assignor_and_session_to_the_broker() -> None:
    props = consumer_properties(kafka(group_protocol="consumer", instance_id="pod-1"))
    assert props["group.protocol"] == "consumer"
    assert "partition.assignment.strategy" not in props
    assert "session.timeout.ms" not in props
    assert props["group.instance.id"] == "pod-1"
    assert props["enable.auto.commit"] is False


def test_group_protocol_is_set_by_its_own_key_only() -> None:
    with pytest.raises(ValidationError, match=r"kafka\.group_protocol"):
        kafka(properties={"group.protocol": "consumer"})
    with pytest.raises(ValidationError):
        kafka(group_protocol="eager")
