"""The Kafka stage's settings: the `kafka` section (brokers, group, topics, security and any
other librdkafka property) and the `dead_letter` section. `bridge.kafka.properties` renders
them into librdkafka's dictionaries; `bridge.kafka.security` holds the TLS and SASL block."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from bridge.kafka.security import KafkaSecurity, check_no_clash
from bridge.settings import (
    MASK,
    SECRET_PROPERTY,
    Frozen,
    TopicSpec,
    check_topic_name,
    mask_properties,
)

_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]+")


class KafkaConfig(Frozen):
    bootstrap_servers: str = Field(min_length=1)
    group_id: str = Field(default="gameball-bridge", min_length=1)
    # Names, or regular expressions starting with "^". Empty: every topic the mappings name.
    topics: tuple[TopicSpec, ...] = ()
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = Field(default=45_000, ge=1_000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # The consumer group protocol: "classic" (JoinGroup/SyncGroup, cooperative-sticky), or
    # "consumer" (KIP-848: the broker assigns, incrementally; Kafka 4.0+ brokers). With
    # "consumer" the session timeout and the assignor are the broker's settings
    # (group.consumer.*), so session_timeout_ms is not sent.
    group_protocol: Literal["classic", "consumer"] = "classic"
    # librdkafka's group.instance.id (static membership, KIP-345); empty: a dynamic member.
    # Unique within the group and stable across restarts (on Kubernetes the pod's name, or a
    # StatefulSet's ordinal): a restart within session_timeout_ms takes its partitions back
    # without a rebalance.
    instance_id: str = ""
    # With an instance id, whether a clean stop (SIGTERM) still leaves the group at once.
    # Static members do not leave on close, so their partitions wait session_timeout_ms for
    # them to come back: right when the same id returns (a StatefulSet), a stall for nothing
    # when it never does (a Deployment's pods are new names at each rollout).
    leave_group_on_shutdown: bool = True
    # TLS and SASL (bridge/kafka/security.py), for every Kafka client the bridge makes.
    security: KafkaSecurity = KafkaSecurity()
    # Any other librdkafka property (client.id, ssl.cipher.suites, ...).
    properties: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("instance_id")
    @classmethod
    def _legal_instance_id(cls, value: str) -> str:
        # The broker's own rule (JoinGroupRequest.validateGroupInstanceId); checked here so
        # that a bad id stops the start with the key's name, not a fatal error at the join.
        if value and (
            value in (".", "..") or len(value) > 249 or not _INSTANCE_ID.fullmatch(value)
        ):
            raise ValueError(
                f"{value!r} is not a valid instance id: at most 249 of a-z A-Z 0-9 . _ -"
                " (a pod's name is)"
            )
        return value

    @field_validator("properties")
    @classmethod
    def _no_managed_properties(
        cls, props: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        # These decide when offsets are committed: letting a user turn auto-commit back on
        # would commit records that were never delivered.
        managed = {"enable.auto.commit", "enable.auto.offset.store", "group.id"}
        if "group.protocol" in props:
            raise ValueError("group.protocol is managed by the bridge: set kafka.group_protocol")
        clash = sorted(managed & props.keys())
        if clash:
            raise ValueError(f"{', '.join(clash)} is managed by the bridge and cannot be set")
        # Set here, the id would reach every client, replays and `bridge check` included, and
        # the shutdown would not know the member is static; one setting owns it.
        if "group.instance.id" in props:
            raise ValueError("group.instance.id is managed by the bridge: set kafka.instance_id")
        return props

    @model_validator(mode="after")
    def _security_set_once(self) -> KafkaConfig:
        # Only a `security` block written in the file claims its keys: without one, setting
        # security.protocol, sasl.* and ssl.* in `properties` still works as it always did.
        if "security" in self.model_fields_set:
            check_no_clash(self.security, self.properties, "kafka.properties")
        return self

    def secrets(self) -> list[str]:
        """Every secret this section holds, in clear (the log masker's list)."""
        found = [str(v) for k, v in self.properties.items() if SECRET_PROPERTY.search(k)]
        return found + list(self.security.secrets().values())

    def redacted(self) -> dict[str, object]:
        """The section as plain data, every secret masked."""
        data = self.model_dump(mode="json")
        data["properties"] = mask_properties(data["properties"])
        for path in self.security.secrets():
            *parents, key = path.split(".")
            node = data["security"]
            for parent in parents:
                node = node[parent]
            node[key] = MASK
        return data


class DeadLetterConfig(Frozen):
    topic: Annotated[str, AfterValidator(check_topic_name)]
    # Larger source records are dead-lettered unread rather than decoded.
    max_record_bytes: int = Field(default=1_000_000, ge=1)
    properties: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def secrets(self) -> list[str]:
        return [str(v) for k, v in self.properties.items() if SECRET_PROPERTY.search(k)]

    def redacted(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        data["properties"] = mask_properties(data["properties"])
        return data
