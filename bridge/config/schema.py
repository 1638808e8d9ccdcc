"""The configuration's schema: one frozen model per section, with their validation.

Secrets are `SecretStr` and never appear in `repr`, logs or error messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bridge.config_base import DAY, Frozen, TopicSpec, check_topic_name
from bridge.gameball.retry_policy import RetryPolicy, parse_rule
from bridge.gameball.tls import TlsConfig
from bridge.kafka.security import KafkaSecurity, check_no_clash
from bridge.mapping.schema import MappingConfig
from bridge.record import Resource

# librdkafka property names whose values are secrets (sasl.password, ssl.key.password,
# sasl.oauthbearer.client.secret, ...): masked whenever the config is shown.
_SECRET_PROPERTY = re.compile(r"password|secret|credential|\.key\.pem|token", re.IGNORECASE)
MASK = "******"


class KafkaConfig(Frozen):
    bootstrap_servers: str = Field(min_length=1)
    group_id: str = Field(default="gameball-bridge", min_length=1)
    # Names, or regular expressions starting with "^". Empty: every topic the mappings name.
    topics: tuple[TopicSpec, ...] = ()
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = Field(default=45_000, ge=1_000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # TLS and SASL (bridge/kafka/security.py), for every Kafka client the bridge makes.
    security: KafkaSecurity = KafkaSecurity()
    # Any other librdkafka property (client.id, ssl.cipher.suites, ...).
    properties: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _no_managed_properties(
        cls, props: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        # These decide when offsets are committed: letting a user turn auto-commit back on
        # would commit records that were never delivered.
        managed = {"enable.auto.commit", "enable.auto.offset.store", "group.id"}
        clash = sorted(managed & props.keys())
        if clash:
            raise ValueError(f"{', '.join(clash)} is managed by the bridge and cannot be set")
        return props

    @model_validator(mode="after")
    def _security_set_once(self) -> KafkaConfig:
        # Only a `security` block written in the file claims its keys: without one, setting
        # security.protocol, sasl.* and ssl.* in `properties` still works as it always did.
        if "security" in self.model_fields_set:
            check_no_clash(self.security, self.properties, "kafka.properties")
        return self


class Timeouts(Frozen):
    connect: float = Field(default=5.0, gt=0, le=DAY)
    read: float = Field(default=10.0, gt=0, le=DAY)
    write: float = Field(default=10.0, gt=0, le=DAY)
    pool: float = Field(default=10.0, gt=0, le=DAY)


class ResourceLimit(Frozen):
    per_second: int = Field(ge=1)
    per_30s: int = Field(ge=1)


class RateLimitConfig(Frozen):
    """Gameball's per-account limits (API.md), enforced before sending."""

    enabled: bool = True
    # The fraction of the account's limits this instance may use: 0.5 for two instances.
    share: float = Field(default=1.0, gt=0, le=1)
    events: ResourceLimit = ResourceLimit(per_second=100, per_30s=1200)
    orders: ResourceLimit = ResourceLimit(per_second=30, per_30s=360)
    customers: ResourceLimit = ResourceLimit(per_second=30, per_30s=360)
    payments: ResourceLimit = ResourceLimit(per_second=30, per_30s=360)

    def windows(self) -> dict[Resource, dict[float, int]]:
        """Per resource: window length in seconds -> requests allowed in it (after `share`)."""
        if not self.enabled:
            return {}
        out: dict[Resource, dict[float, int]] = {}
        for resource in Resource:
            limit: ResourceLimit = getattr(self, resource.value)
            out[resource] = {
                1.0: max(1, int(limit.per_second * self.share)),
                30.0: max(1, int(limit.per_30s * self.share)),
            }
        return out


_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*\.?|\[[0-9A-Fa-f:.]+\]")


def _check_base_url(url: str) -> str:
    """``scheme://host[:port]``, without a trailing slash. The client appends
    ``/api/<version>/integrations/<resource>``: anything else in the URL would be sent
    somewhere else (a query or fragment swallows the path, a path doubles it)."""
    hint = (
        "base_url must be scheme://host[:port] only; "
        "the bridge adds /api/<api_version>/integrations/..."
    )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"base_url contains whitespace or a control character: {hint}")
    scheme, _, rest = url.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if scheme not in ("http", "https") or not netloc:
        # Shown only without "@": a password in the URL is not repeated in a message.
        shown = f", got {url!r}" if "@" not in url else ""
        raise ValueError(f"expected an http(s) URL{shown}")
    if "@" in netloc:
        raise ValueError(f"base_url has a user name or password: {hint}")
    host, port = netloc, ""
    if ":" in netloc and not netloc.endswith("]"):
        host, _, port = netloc.rpartition(":")
        if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"base_url has a bad port {port!r}: expected 1 to 65535")
    if not _HOST.fullmatch(host):
        raise ValueError(f"base_url has a bad host {host!r}: {hint}")
    tail = rest[len(netloc) :]
    if tail not in ("", "/"):
        parts = urlsplit(url)
        if parts.path not in ("", "/"):
            problem = f"a path ({parts.path!r})"
        elif "?" in tail.partition("#")[0]:
            problem = "a query"
        else:
            problem = "a fragment"
        raise ValueError(f"base_url has {problem}: {hint}")
    return f"{scheme}://{netloc}"


def _header_safe_key(key: SecretStr, name: str) -> SecretStr:
    """The key without surrounding whitespace, refused if an HTTP header cannot carry it.

    Secrets from files and environment variables commonly end with a newline (`echo`,
    `kubectl create secret --from-file`): kept, every request would fail locally with an
    illegal header value, retried forever, and the key would reach logs escaped, where the
    masker cannot recognise it. Inside a key, only visible ASCII (0x21-0x7E) is valid; the
    message says where the bad character is and what it is, never the key itself.
    """
    value = key.get_secret_value()
    stripped = value.strip(" \t\r\n\f\v")
    for position, char in enumerate(stripped, start=1):
        if "\x21" <= char <= "\x7e":
            continue
        if char == " ":
            kind = "a space"
        elif char.isascii():
            kind = f"a control character (U+{ord(char):04X})"
        else:
            kind = f"a non-ASCII character (U+{ord(char):04X})"
        raise ValueError(
            f"{name} contains {kind} at position {position} of {len(stripped)}: keys are "
            "visible ASCII only (check how the key was copied or stored)"
        )
    return key if stripped == value else SecretStr(stripped)


class GameballConfig(Frozen):
    base_url: str = "https://api.gameball.co"
    api_version: Literal["v4.0", "v4.1"] = "v4.0"
    api_key: SecretStr
    secret_key: SecretStr | None = None
    timeouts: Timeouts = Timeouts()
    max_connections: int = Field(default=32, ge=1)
    rate_limits: RateLimitConfig = RateLimitConfig()
    # HTTPS certificate checks (bridge/gameball/tls.py): on, against the system's CAs or ca_file.
    tls: TlsConfig = TlsConfig()

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _check_base_url(url)

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, key: SecretStr) -> SecretStr:
        key = _header_safe_key(key, "api_key")
        if not key.get_secret_value():
            raise ValueError("the Gameball API key is empty (set GAMEBALL_API_KEY)")
        return key

    @field_validator("secret_key")
    @classmethod
    def _empty_secret_is_none(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None:
            return None
        key = _header_safe_key(key, "secret_key")
        # "${GAMEBALL_SECRET_KEY:-}" yields "" when unset: that means "no secret key".
        return key if key.get_secret_value() else None

    @model_validator(mode="after")
    def _v41_needs_both_keys(self) -> GameballConfig:
        if self.api_version == "v4.1" and self.secret_key is None:
            raise ValueError("api_version v4.1 requires secret_key as well as api_key")
        return self

    @model_validator(mode="after")
    def _tls_needs_https(self) -> GameballConfig:
        # A CA bundle next to an http:// URL means the operator believes the link is checked.
        if self.tls.ca_file is not None and not self.base_url.startswith("https://"):
            raise ValueError(
                f"tls.ca_file is set but base_url {self.base_url!r} is plain http: nothing "
                "would be encrypted or checked (use https://)"
            )
        return self


class RetryConfig(Frozen):
    initial_backoff: float = Field(default=0.2, gt=0, le=DAY)
    max_backoff: float = Field(default=30.0, gt=0, le=DAY)
    # While Gameball refuses the keys or the account, one request tries again this often.
    access_retry_interval: float = Field(default=60.0, gt=0, le=DAY)
    # Overrides of the retry table (bridge/gameball/retry_policy.py has the defaults, from
    # Gameball's docs): Gameball error code or HTTP status -> delivered | retry | retry:N |
    # dead_letter | stop.
    by_code: dict[int, str] = Field(default_factory=dict)
    by_status: dict[int, str] = Field(default_factory=dict)

    @field_validator("by_code", "by_status")
    @classmethod
    def _rules_valid(cls, rules: dict[int, str]) -> dict[int, str]:
        for rule in rules.values():
            parse_rule(rule)
        return rules

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.by_code, self.by_status)


class DeliveryConfig(Frozen):
    # "customer": one request at a time per customer, customers concurrently.
    # "partition": one request at a time per partition (strict partition order).
    ordering: Literal["customer", "partition"] = "customer"
    max_in_flight: int = Field(default=500, ge=1)
    # And at most this many bytes of record keys and values in flight.
    max_in_flight_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    commit_interval: float = Field(default=1.0, gt=0, le=DAY)
    drain_timeout: float = Field(default=30.0, ge=0, le=DAY)
    retry: RetryConfig = RetryConfig()


class DeadLetterConfig(Frozen):
    topic: Annotated[str, AfterValidator(check_topic_name)]
    # Larger source records are dead-lettered unread rather than decoded.
    max_record_bytes: int = Field(default=1_000_000, ge=1)
    properties: dict[str, str | int | float | bool] = Field(default_factory=dict)


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


class BridgeConfig(Frozen):
    kafka: KafkaConfig
    gameball: GameballConfig
    dead_letter: DeadLetterConfig
    delivery: DeliveryConfig = DeliveryConfig()
    logging: LoggingConfig = LoggingConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    mappings: tuple[MappingConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique(self) -> BridgeConfig:
        seen: set[str] = set()
        for mapping in self.mappings:
            if mapping.name in seen:
                raise ValueError(f"two mappings are named {mapping.name!r}")
            seen.add(mapping.name)
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

    def subscribed_topics(self) -> tuple[str, ...]:
        """What the consumer subscribes to: `kafka.topics`, or else every mapping's topics."""
        if self.kafka.topics:
            return self.kafka.topics
        topics: dict[str, None] = {}
        for mapping in self.mappings:
            topics.update(dict.fromkeys(mapping.topics))
        return tuple(topics)

    def redacted(self) -> dict[str, Any]:
        """The resolved configuration as plain data with every secret masked, for logs."""
        data = self.model_dump(mode="json")
        gb = data["gameball"]
        gb["api_key"] = MASK
        if gb["secret_key"] is not None:
            gb["secret_key"] = MASK
        for section in (data["kafka"], data["dead_letter"]):
            section["properties"] = mask_properties(section["properties"])
        for path in self.kafka.security.secrets():
            *parents, key = path.split(".")
            node = data["kafka"]["security"]
            for parent in parents:
                node = node[parent]
            node[key] = MASK
        return data

    def secret_values(self) -> list[str]:
        """Every secret the config holds, in clear: the log masker's list (whatever else goes
        wrong, none of these reaches a log line)."""
        secrets = [self.gameball.api_key.get_secret_value()]
        if self.gameball.secret_key is not None:
            secrets.append(self.gameball.secret_key.get_secret_value())
        for props in (self.kafka.properties, self.dead_letter.properties):
            secrets += [str(v) for k, v in props.items() if _SECRET_PROPERTY.search(k)]
        secrets += self.kafka.security.secrets().values()
        return secrets


def mask_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if _SECRET_PROPERTY.search(k) else v) for k, v in props.items()}
