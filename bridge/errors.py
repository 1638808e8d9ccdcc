"""The bridge's exceptions, drawn once.

    BridgeError
    ├── ConfigError                 bad configuration: the process stops at start-up
    ├── MappingError                a record cannot become Gameball operations (dead-letter it)
    ├── SchemaPending               a record's schema must be fetched first (hold the record)
    ├── DeliveryError               posting an operation to Gameball failed
    │   ├── RetryableDeliveryError  transient: timeouts, connection errors, 5xx, code 2001;
    │   │   │                       with `max_attempts`, dead-lettered after that many (4000),
    │   │   │                       with `retry_for`, after that long (a refund's order: 9005)
    │   │   ├── RateLimitedError    429: wait `retry_after` seconds (or back off) and retry
    │   │   └── OutcomeUnknownError Gameball may have applied it (a batch item without a
    │   │                           certain outcome): sent again, a possible duplicate
    │   ├── Withdrawn               not sent: its partition went to another member before the
    │   │                           request reached the wire (the next owner sends it)
    │   ├── PermanentDeliveryError  the record itself is at fault: dead-letter it
    │   └── GameballAccessError     credentials or account (401/403/6000): stop sending,
    │                               keep the record, tell the operator what to fix
    ├── DeadLetterError             the dead-letter topic did not acknowledge a write
    ├── KafkaClientError            the Kafka consumer failed in a way it cannot recover from
    └── LocalKafkaError             the local development broker could not be fetched or started

Foreign exceptions (httpx, confluent_kafka) are translated into these at the two doors to
the outside, `bridge.gameball.client` and `bridge.kafka`, with `raise ... from exc`; nothing
else catches them.
"""

from __future__ import annotations

from collections.abc import Callable


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration is invalid; the message names the file, the key path and what was
    expected."""


class MappingError(BridgeError):
    """A record cannot be turned into Gameball operations.

    `kind` is a short stable name (``invalid_json``, ``missing_field``, ...) that goes into the
    dead-letter headers and the logs; the message says where and what.
    """

    def __init__(self, kind: str, message: str, *, schema_id: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        # The writer's schema id, when the record names one (decode_failed of Avro, ...).
        self.schema_id = schema_id


class SchemaPending(BridgeError):
    """A record's schema is not known yet: the registry must be asked first.

    Not a failure of the record. The engine holds the record (and those after it in its
    partition), runs `prepare` off the event loop until it stops raising (a registry outage
    raises; anything else ends it), then maps the record again.
    """

    def __init__(self, what: str, prepare: Callable[[], None]) -> None:
        super().__init__(what)
        self.what = what
        self.prepare = prepare


class DeliveryError(BridgeError):
    """Posting one operation to Gameball did not succeed."""

    kind = "delivery_failed"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class RetryableDeliveryError(DeliveryError):
    """A transient failure: the same request may succeed later. Retried until it succeeds,
    or, when the retry table gives `max_attempts`, dead-lettered after that many attempts,
    or, when it gives `retry_for`, that many seconds after the first such answer (a refund
    whose order has not arrived yet)."""

    kind = "retryable"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        max_attempts: int | None = None,
        retry_for: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.max_attempts = max_attempts
        self.retry_for = retry_for


class OutcomeUnknownError(RetryableDeliveryError):
    """Gameball may or may not have applied the operation: a batch item whose status gives
    no certain outcome, a job that failed, timed out or is no longer known. Sent again (a
    possible duplicate, never a loss); `single`: the next attempt goes as a single call,
    whose answer is certain, rather than into another job read the same way."""

    kind = "outcome_unknown"

    def __init__(self, message: str, *, single: bool = False) -> None:
        super().__init__(message)
        self.single = single


class RateLimitedError(RetryableDeliveryError):
    """Gameball answered 429. `retry_after` is its Retry-After in seconds, when it sent one."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: int | None = None,
        retry_after: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, max_attempts=max_attempts)
        self.retry_after = retry_after


class Withdrawn(DeliveryError):
    """The operation was not sent: by the time it could go (a rate-limit slot, a batch's
    create call) the record's partition was being revoked, and it belongs to the next owner.
    Nothing reached Gameball, so nothing can repeat."""

    kind = "withdrawn"


class PermanentDeliveryError(DeliveryError):
    """Gameball rejected the request for a reason that retrying cannot fix."""

    kind = "rejected"


class GameballAccessError(DeliveryError):
    """The account or its keys are refused (401, 403, code 6000). Not the record's fault:
    sending stops until it is fixed, and the record is kept."""

    kind = "access_denied"


class DeadLetterError(BridgeError):
    """Writing to the dead-letter topic failed; the source offset must not be committed."""


class KafkaClientError(BridgeError):
    """The Kafka consumer could not start, or hit a fatal error."""


class LocalKafkaError(BridgeError):
    """The local development broker could not be fetched or started."""
