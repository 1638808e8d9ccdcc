"""Observability's settings: the `logging` section (format, level, stats, personal data) and
the `observability` section (the health and metrics port)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from bridge.settings import DAY, Frozen


class PersonalDataConfig(Frozen):
    """What logs do with personal data: `email` and `mobile`, plus `fields`, wherever they
    appear as keys (nested ones too). customer_id is kept: operators trace customers by it."""

    # hash: a keyed SHA-256, truncated (the same value gives the same hash, so lines can still
    # be matched up); drop: the key is removed; keep: logged as is.
    mode: Literal["keep", "hash", "drop"] = "hash"
    fields: tuple[str, ...] = ()
    # The hash key. Unset: a random one per process (hashes match only within one run); set
    # it to compare hashes across instances and restarts.
    salt: SecretStr | None = None


class LoggingConfig(Frozen):
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    stats_interval: float = Field(default=30.0, gt=0, le=DAY)
    pii: PersonalDataConfig = PersonalDataConfig()


class ObservabilityConfig(Frozen):
    # An HTTP port serving /healthz, /readyz and /metrics (Prometheus); null: none.
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = Field(default="0.0.0.0", min_length=1)
    # A partition with records pending and no committed progress for this long makes the
    # bridge unready (/readyz answers 503).
    stuck_after: float = Field(default=300.0, gt=0, le=DAY)

    @field_validator("port", mode="before")
    @classmethod
    def _empty_port_is_none(cls, port: object) -> object:
        # "${BRIDGE_HTTP_PORT:-}" yields "" when unset: that means "no port". The container
        # image sets the variable, so its HEALTHCHECK has /healthz to call.
        return None if port == "" else port
