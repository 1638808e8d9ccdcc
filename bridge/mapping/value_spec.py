"""How the config says where a value comes from and what to do to it (`ValueSpec`), and the
strict base every mapping model shares (unknown keys are refused with the valid ones listed).

A value is exactly one of: `path` (a bare string is a path), `const` (a bare number, boolean
or list is a constant), `expr` (JMESPath), `template` (``"{properties.plan}_upgrade"``),
`header` (a Kafka header, decoded as UTF-8) or `kafka` (topic, partition, offset, key,
timestamp; `key.<path>` into a key decoded with the mapping's `key_format`). Transforms,
applied in this order: `default` (when missing or null), `map` with `unmapped`, `type` (with
`unit` for epoch timestamps), `drop_nulls`.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

import jmespath
import jmespath.exceptions
from pydantic import AfterValidator, model_validator

from bridge.mapping.paths import parse_path, parse_template
from bridge.mapping.transforms import CoerceTo, EpochUnit
from bridge.settings import Frozen

SOURCES = ("path", "const", "expr", "template", "header", "kafka")
KAFKA_FIELDS = ("topic", "partition", "offset", "key", "timestamp")


def _check_kafka_field(name: str) -> str:
    if name in KAFKA_FIELDS:
        return name
    if name.startswith("key."):
        parse_path(name.removeprefix("key."))
        return name
    raise ValueError(
        f"unknown Kafka field {name!r}: give one of {', '.join(KAFKA_FIELDS)}, or key.<path> "
        "into a structured key (with the mapping's key_format)"
    )


# A record's Kafka side: topic, partition, offset, key, timestamp, or key.<path>.
KafkaField = Annotated[str, AfterValidator(_check_kafka_field)]


def unknown_key(key: object, valid: list[str], what: str) -> str:
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r} in {what}{hint}; valid keys: {', '.join(valid)}"


class Strict(Frozen):
    """Refuses unknown keys itself, so the message can list the valid ones."""

    @classmethod
    def _normalise(cls, data: Any) -> Any:
        return data

    @classmethod
    def _what(cls) -> str:
        return cls.__name__

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        data = cls._normalise(data)
        if isinstance(data, dict):
            valid = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in valid:
                    raise ValueError(unknown_key(key, valid, cls._what()))
        return data


class ValueSpec(Strict):
    path: str | None = None
    const: Any = None
    expr: str | None = None
    template: str | None = None
    header: str | None = None
    kafka: KafkaField | None = None
    # Transforms.
    default: Any = None
    map: dict[str, Any] | None = None
    unmapped: Literal["keep", "drop", "error"] = "keep"
    type: CoerceTo | None = None
    unit: EpochUnit | None = None
    drop_nulls: bool = False

    @classmethod
    def _what(cls) -> str:
        return "a value"

    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"path": data}
        if isinstance(data, bool | int | float | list):
            return {"const": data}
        if data is None:
            raise ValueError("a value cannot be null here (write {const: ...} or leave it out)")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        given = [s for s in SOURCES if getattr(self, s) is not None]
        if len(given) != 1:
            # The wording keeps "exactly one of 'path' or 'const'", which messages have said.
            raise ValueError(
                "give exactly one of "
                + " or ".join(f"'{s}'" for s in SOURCES)
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.path is not None:
            parse_path(self.path)
        if self.template is not None:
            parse_template(self.template)
        if self.expr is not None:
            try:
                jmespath.compile(self.expr)
            except jmespath.exceptions.JMESPathError as exc:
                raise ValueError(f"bad JMESPath expression {self.expr!r}: {exc}") from None
        if self.unit is not None and self.type != "timestamp":
            raise ValueError("'unit' applies only with type: timestamp")
        if self.unmapped != "keep" and self.map is None:
            raise ValueError("'unmapped' applies only with 'map'")
        return self

    def describe(self) -> str:
        """Where the value comes from, for messages: ``path user.id``, ``constant 'x'``."""
        if self.path is not None:
            return f"path {self.path}"
        if self.expr is not None:
            return f"expr {self.expr}"
        if self.template is not None:
            return f"template {self.template!r}"
        if self.header is not None:
            return f"header {self.header}"
        if self.kafka is not None:
            return f"kafka {self.kafka}"
        return f"constant {self.const!r}"


class ObjectSpec(ValueSpec):
    """A whole object from the record (e.g. `metadata_from: {path: properties}`), narrowed by
    `include` (only these keys) and `exclude` (all but these)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def _what(cls) -> str:
        return "an object source"

    @model_validator(mode="after")
    def _include_or_exclude(self) -> ObjectSpec:
        if self.include and self.exclude:
            raise ValueError("give 'include' or 'exclude', not both")
        return self
