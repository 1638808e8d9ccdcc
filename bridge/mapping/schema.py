"""The mapping section of the configuration: which topics a mapping applies to and what it
builds from each record. Compiled into callables by `bridge.mapping.mapper`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from bridge.config_base import Frozen, check_pattern
from bridge.mapping.paths import parse_path

TopicSpec = Annotated[str, Field(min_length=1)]


def _check_path(path: str) -> str:
    parse_path(path)  # raises ValueError naming what is wrong
    return path


Path_ = Annotated[str, Field(min_length=1)]


class ValueSpec(Frozen):
    """A value taken from the record (`path`) or fixed (`const`). A bare string is a path."""

    path: str | None = None
    const: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ValueSpec:
        if (self.path is None) == (self.const is None):
            raise ValueError("give exactly one of 'path' or 'const'")
        if self.path is not None:
            _check_path(self.path)
        return self

    @model_validator(mode="before")
    @classmethod
    def _bare_string_is_path(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


class EventOutput(Frozen):
    customer_id: ValueSpec
    name: ValueSpec
    # Gameball metadata key -> where its value is in the record. Missing values are omitted.
    metadata: dict[str, ValueSpec] = Field(default_factory=dict)
    email: ValueSpec | None = None
    mobile: ValueSpec | None = None


class MappingConfig(Frozen):
    name: str = Field(min_length=1)
    topics: tuple[TopicSpec, ...] = Field(min_length=1)
    event: EventOutput

    @field_validator("topics")
    @classmethod
    def _topics_valid(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        for topic in topics:
            check_pattern(topic)
        return topics
