"""The door to the Schema Registry: confluent-kafka's `SchemaRegistryClient`, its failures
sorted into the two kinds the engine treats differently.

    RegistryUnavailable   cannot be reached, times out, answers 5xx/408/429, or refuses our
                          credentials: not the record's fault. The record waits; nothing is
                          dead-lettered.
    UnknownSchema         the registry answered, and has no such schema (404), or its schema
                          cannot be used: the records that name it are dead-lettered.

The client keeps every schema it fetched by id (its cache never evicts), so the registry is
asked once per id; `SchemaRegistry` remembers which ids are ready, so the event loop can tell,
without a request, whether a record can be decoded now (`bridge.decoding.formats`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError

from bridge.decoding.settings import RegistryConfig

# Statuses that say "later", as the client's own retry loop reads them (is_retriable), plus
# the credentials ones: a rotated password is fixed by an operator, not by dropping records.
_OUTAGE_STATUSES = frozenset({401, 403, 408, 429, 500, 502, 503, 504})
# How long an answer "no such schema" stands before the id is asked for again.
UNKNOWN_FOR = 30.0


class RegistryUnavailable(Exception):
    """The registry could not answer now; ask again later."""


class UnknownSchema(Exception):
    """The registry has no usable schema of this id; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def client_properties(config: RegistryConfig) -> dict[str, Any]:
    """The `SchemaRegistryClient` properties for `config`. Its own retries are off: a
    request blocks a thread for at most `timeout`, and the engine retries with its backoff."""
    props: dict[str, Any] = {
        "url": ",".join(config.urls),
        "timeout": config.timeout,
        "max.retries": 0,
    }
    if config.basic_auth is not None:
        password = config.basic_auth.password.get_secret_value()
        props["basic.auth.user.info"] = f"{config.basic_auth.username}:{password}"
    if config.bearer is not None:
        props["bearer.auth.credentials.source"] = "STATIC_TOKEN"
        props["bearer.auth.token"] = config.bearer.token.get_secret_value()
        props["bearer.auth.logical.cluster"] = config.bearer.logical_cluster
        if config.bearer.identity_pool_id:
            props["bearer.auth.identity.pool.id"] = config.bearer.identity_pool_id
    tls = config.tls
    if tls.ca_file is not None:
        props["ssl.ca.location"] = str(tls.ca_file)
    if tls.cert_file is not None and tls.key_file is not None:
        props["ssl.certificate.location"] = str(tls.cert_file)
        props["ssl.key.location"] = str(tls.key_file)
    return props


def classify(exc: Exception) -> RegistryUnavailable | UnknownSchema:
    """What a failed registry call means for the record that needed it."""
    if isinstance(exc, SchemaRegistryError):
        status = exc.http_status_code
        if status in _OUTAGE_STATUSES or status >= 500 or status < 0:
            return RegistryUnavailable(f"the schema registry answered {exc}")
        return UnknownSchema(f"the schema registry answered {exc}")
    if isinstance(exc, httpx.TransportError | OSError):  # refused, reset, timed out, DNS
        return RegistryUnavailable(
            f"the schema registry cannot be reached: {type(exc).__name__}: {exc}"
        )
    # Anything else is a schema the client could not use: its records are dead-lettered with
    # the reason (and can be replayed), rather than held forever.
    return UnknownSchema(f"{type(exc).__name__}: {exc}")


class SchemaRegistry:
    """One registry client for the process, and which schema ids each decoder is ready to
    decode with (a decoder's `kind`, from `kind_for`).

    `prepare(kind, schema_id, step)` runs `step` (fetch the schema, parse it: whatever a
    decoder needs before it can work without a request) on the caller's thread, once per
    kind and id; the engine calls it off the event loop.
    """

    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client
        self._ready: set[tuple[str, int]] = set()
        # Unknown ids, with why and when: asked again after UNKNOWN_FOR seconds, since a
        # registry of several nodes may answer 404 for a schema registered a moment ago.
        self._unknown: dict[tuple[str, int], tuple[str, float]] = {}
        self._kinds: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: RegistryConfig) -> SchemaRegistry:
        return cls(SchemaRegistryClient(client_properties(config)))

    @classmethod
    def optional(cls, config: RegistryConfig | None) -> SchemaRegistry | None:
        """The registry of a config's `schema_registry` section, if it has one. Makes no
        request: the client connects when it is first asked for a schema."""
        return None if config is None else cls.from_config(config)

    @classmethod
    def in_memory(cls) -> SchemaRegistry:
        """confluent-kafka's mock registry (``mock://``): for tests and `bridge mapping test`."""
        return cls(SchemaRegistryClient.new_client({"url": "mock://"}))

    def kind_for(self, name: str) -> str:
        """A readiness name of its own for a new decoder (`name`, then `name #2`, ...):
        readiness is per decoder, since each keeps the schemas it parsed."""
        with self._lock:
            count = self._kinds.get(name, 0) + 1
            self._kinds[name] = count
        return name if count == 1 else f"{name} #{count}"

    def state(self, kind: str, schema_id: int) -> bool | str | None:
        """True: ready. A string: unknown, and why. None: not asked yet."""
        key = (kind, schema_id)
        if key in self._ready:
            return True
        unknown = self._unknown.get(key)
        if unknown is None:
            return None
        reason, since = unknown
        if time.monotonic() - since > UNKNOWN_FOR:
            with self._lock:
                self._unknown.pop(key, None)
            return None
        return reason

    def prepare(self, kind: str, schema_id: int, step: Callable[[], None]) -> None:
        """Make `schema_id` ready for `kind` of decoder. Raises RegistryUnavailable (try
        again later); an unknown or unusable schema is remembered, not raised."""
        key = (kind, schema_id)
        if self.state(kind, schema_id) is not None:
            return
        try:
            step()
        except UnknownSchema as exc:
            with self._lock:
                self._unknown[key] = (exc.reason, time.monotonic())
            return
        except Exception as exc:
            verdict = classify(exc)
            if isinstance(verdict, RegistryUnavailable):
                raise verdict from exc
            with self._lock:
                self._unknown[key] = (verdict.reason, time.monotonic())
            return
        with self._lock:
            self._ready.add(key)

    def close(self) -> None:
        """Close the client's connections (it cannot be used afterwards)."""
        self.client.close()

    def latest(self, subject: str) -> tuple[int, int, str]:
        """The subject's latest version: (schema id, version, schema type), for `bridge check`."""
        registered = self.client.get_latest_version(subject)
        schema_type = registered.schema.schema_type or "AVRO"
        return int(registered.schema_id or 0), int(registered.version or 0), schema_type
