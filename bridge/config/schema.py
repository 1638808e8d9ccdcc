"""The whole file's schema: `BridgeConfig` assembles the sections each stage owns (its
settings module beside the code that uses them) and checks what spans sections.

Secrets are `SecretStr` and never appear in `repr`, logs or error messages.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from bridge.decoding.registry import SchemaRegistry
from bridge.decoding.settings import REGISTRY_FORMATS, RegistryConfig
from bridge.engine.settings import DeliveryConfig
from bridge.gameball.settings import GameballConfig
from bridge.kafka.security import check_no_clash
from bridge.kafka.settings import DeadLetterConfig, KafkaConfig
from bridge.mapping.mapper import Mapper
from bridge.mapping.settings import MappingConfig
from bridge.observability.settings import LoggingConfig, ObservabilityConfig
from bridge.settings import Frozen


class BridgeConfig(Frozen):
    kafka: KafkaConfig
    gameball: GameballConfig
    dead_letter: DeadLetterConfig
    delivery: DeliveryConfig = DeliveryConfig()
    logging: LoggingConfig = LoggingConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    # Where the writers' schemas are, for mappings whose format is avro, protobuf or
    # json_schema (bridge.decoding).
    schema_registry: RegistryConfig | None = None
    mappings: tuple[MappingConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique(self) -> BridgeConfig:
        seen: set[str] = set()
        for mapping in self.mappings:
            if mapping.name in seen:
                raise ValueError(f"two mappings are named {mapping.name!r}")
            seen.add(mapping.name)
            formats = {mapping.format, mapping.key_format} & REGISTRY_FORMATS
            if formats and self.schema_registry is None:
                raise ValueError(
                    f"mapping {mapping.name!r} reads {' and '.join(sorted(formats))} records, "
                    "which name their schema in a registry: add a schema_registry section "
                    "(url: ...)"
                )
        self._dead_letter_not_subscribed()
        if "security" in self.kafka.model_fields_set:
            props = self.dead_letter.properties
            check_no_clash(self.kafka.security, props, "dead_letter.properties")
        return self

    def _dead_letter_not_subscribed(self) -> None:
        # Consuming the dead-letter topic would read every dead letter back, fail it again and
        # write it again, forever. librdkafka searches a "^" pattern unanchored at the end
        # (regexec), as `bridge.mapping.rules.TopicFilter` does.
        topic = self.dead_letter.topic
        for spec in self.subscribed_topics():
            if spec == topic:
                raise ValueError(f"the dead-letter topic {topic!r} cannot also be a source topic")
            if spec.startswith("^") and re.search(spec, topic):
                raise ValueError(
                    f"the dead-letter topic {topic!r} cannot also be a source topic: the "
                    f"pattern {spec!r} matches it (rename the topic or narrow the pattern)"
                )

    def mapper(self, *, log_skips: bool = True) -> Mapper:
        """The mappings compiled (plugins loaded: a bad one raises), with the registry client
        the registry section describes, if any: what `bridge run`, `validate`, `check` and the
        dead-letter dry run each map with. The mapper closes the registry's client."""
        return Mapper(
            self.mappings,
            max_record_bytes=self.dead_letter.max_record_bytes,
            log_skips=log_skips,
            registry=SchemaRegistry.optional(self.schema_registry),
        )

    def subscribed_topics(self) -> tuple[str, ...]:
        """What the consumer subscribes to: `kafka.topics`, or else every mapping's topics."""
        if self.kafka.topics:
            return self.kafka.topics
        topics: dict[str, None] = {}
        for mapping in self.mappings:
            topics.update(dict.fromkeys(mapping.topics))
        return tuple(topics)

    def with_batch_mode(self, mode: Literal["auto", "always", "never"]) -> BridgeConfig:
        """The same config with `delivery.batch.mode` set (the replays' --batch-mode)."""
        delivery = self.delivery
        batch = delivery.batch.model_copy(update={"mode": mode})
        return self.model_copy(update={"delivery": delivery.model_copy(update={"batch": batch})})

    def redacted(self, *, defaults: bool = True) -> dict[str, Any]:
        """The resolved configuration as plain data with every secret masked, for logs;
        `defaults=False` leaves out every value that is its default."""
        # By alias: the keys as the file writes them (a condition's `in`, not `in_`).
        data = self.model_dump(mode="json", by_alias=True)
        data["kafka"] = self.kafka.redacted()
        data["gameball"] = self.gameball.redacted()
        data["dead_letter"] = self.dead_letter.redacted()
        if self.schema_registry is not None:
            data["schema_registry"] = self.schema_registry.redacted()
        if defaults:
            return data
        sparse = self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        pruned: dict[str, Any] = _only(data, sparse)
        return pruned

    def summary(self) -> dict[str, Any]:
        """What a person reading the start-up line needs, in a few fields."""
        limits = self.gameball.rate_limits
        return {
            "group": self.kafka.group_id,
            "instance_id": self.kafka.instance_id or None,
            "topics": list(self.subscribed_topics()),
            "mappings": [mapping.name for mapping in self.mappings],
            "gameball": f"{self.gameball.base_url} ({self.gameball.api_version})",
            "dead_letter_topic": self.dead_letter.topic,
            "rate_limits": f"on, share {_share(limits.share)}" if limits.enabled else "off",
            "batch_mode": self.delivery.batch.mode,
            "schema_registry": (
                self.schema_registry.urls[0] if self.schema_registry is not None else None
            ),
            "observability_port": self.observability.port,
        }

    def secret_values(self) -> list[str]:
        """Every secret the config holds, in clear: the log masker's list (whatever else goes
        wrong, none of these reaches a log line)."""
        registry = self.schema_registry.secrets() if self.schema_registry is not None else []
        return (
            self.gameball.secrets() + self.kafka.secrets() + self.dead_letter.secrets() + registry
        )


def _share(share: float | str) -> str:
    return share if isinstance(share, str) else f"{share:g}"


def _only(full: Any, present: Any) -> Any:
    """`full`'s values at the keys `present` has (the masked dump, pruned like the sparse)."""
    if isinstance(full, dict) and isinstance(present, dict):
        return {key: _only(full[key], value) for key, value in present.items() if key in full}
    if isinstance(full, list) and isinstance(present, list):
        return [_only(f, p) for f, p in zip(full, present, strict=True)]
    return full
