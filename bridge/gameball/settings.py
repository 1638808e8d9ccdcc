"""The Gameball stage's settings: the `gameball` section (base URL, keys, timeouts, pool size,
rate limits, TLS) and the retry table's overrides, which the file keeps under
`delivery.retry` beside the engine's backoffs (`bridge.engine.settings.RetryConfig`)."""

from __future__ import annotations

import math
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from bridge.gameball.retry_policy import RetryPolicy, parse_rule
from bridge.gameball.tls import TlsConfig
from bridge.operations.table import TRACKING
from bridge.record import Resource
from bridge.settings import DAY, MASK, Frozen


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
    # The fraction of the account's limits this instance may use. auto: its fraction of the
    # consumer group's partitions, learnt at every rebalance (bridge/gameball/rate_limits.py);
    # a number (0.5 for two instances) fixes it.
    share: Literal["auto"] | float = "auto"
    events: ResourceLimit = ResourceLimit(per_second=100, per_30s=1200)
    orders: ResourceLimit = ResourceLimit(per_second=30, per_30s=360)
    customers: ResourceLimit = ResourceLimit(per_second=30, per_30s=360)
    payments: ResourceLimit = ResourceLimit(per_second=30, per_30s=360)

    def windows(self) -> dict[Resource, dict[float, int]]:
        """Per resource: window length in seconds -> requests the whole account may make in
        it (each instance takes its share of them)."""
        if not self.enabled:
            return {}
        out: dict[Resource, dict[float, int]] = {}
        for resource in Resource:
            limit: ResourceLimit = getattr(self, resource.value)
            out[resource] = {1.0: limit.per_second, 30.0: limit.per_30s}
        return out

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, value: object) -> object:
        if value == "auto":
            return value
        try:
            share = float(value)  # type: ignore[arg-type]  # checked right below
        except (TypeError, ValueError):
            share = math.nan
        if isinstance(value, bool) or not math.isfinite(share) or not 0 < share <= 1:
            raise ValueError(
                f"share must be auto, or a finite number above 0 and at most 1 (got {value!r})"
            )
        return share

    @property
    def fixed_share(self) -> float | None:
        """The configured share, or None for `auto`."""
        return None if self.share == "auto" else self.share


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

    def secrets(self) -> list[str]:
        """The keys, in clear (the log masker's list)."""
        keys = [self.api_key, self.secret_key]
        return [key.get_secret_value() for key in keys if key is not None]

    def redacted(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        data["api_key"] = MASK
        if data["secret_key"] is not None:
            data["secret_key"] = MASK
        return data


class RetryTable(Frozen):
    """Overrides of the retry table (`bridge.gameball.retry_policy` has the defaults, from
    Gameball's docs): Gameball error code or HTTP status -> delivered | retry | retry:N |
    dead_letter | stop. Written under `delivery.retry` in the file."""

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


# Gameball's batch endpoints (API.md, "Batches"), from the operations' table: the resources
# whose tracking call has one (payments have none, so they always travel as single calls).
BATCH_RESOURCES = tuple(r for r, d in TRACKING.items() if d.batch_path is not None)
MAX_BATCH_ITEMS = 1000


class BatchConfig(Frozen):
    """How operations travel: single calls, or Gameball's asynchronous batch API (one call
    creates a job of up to 1,000 items; a status call reads each item's outcome later).
    Written under `delivery.batch` in the file."""

    # auto: single calls while the stream is light (lowest latency), batches per resource
    # while operations pile up for it; always / never: batches / single calls only.
    mode: Literal["auto", "always", "never"] = "auto"
    max_items: int = Field(default=MAX_BATCH_ITEMS, ge=1, le=MAX_BATCH_ITEMS)
    # A batch's request body never exceeds this (its items' JSON, plus the envelope).
    max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # A batch goes when full, or this long after its first item.
    max_wait: float = Field(default=0.2, gt=0, le=60)
    # auto: a resource switches to batches once this many of its operations are waiting
    # (handed to the sender and not yet confirmed), and back to single calls once no more
    # than `switch_down` have been waiting for `calm_for` seconds.
    switch_up: int = Field(default=200, ge=2)
    switch_down: int = Field(default=50, ge=0)
    calm_for: float = Field(default=5.0, ge=0, le=DAY)
    # auto also switches up once a single call would be held this long by the rate limits
    # (behind the calls queued before it), or 1.5 batch cycles if that is longer: a backlog
    # of few customers never makes switch_up operations wait (bridge/gameball/modes.py).
    switch_up_wait: float = Field(default=0.5, gt=0, le=DAY)
    # Records in flight while any resource is batched (delivery.max_in_flight bounds the
    # rest): a batch of 1,000 needs that many customers' records waiting at once.
    max_in_flight: int = Field(default=10_000, ge=1)
    # The status call, under /api/<version>/integrations/: {id} is the job id. The spec's
    # "batches/{id}/status" or the tutorial's "batch/{id}"; both answers are read.
    status_path: str = "batches/{id}/status"
    # Polling a job: the first look after `first_poll` (later: after the time recent jobs
    # took), then growing from `poll_interval` to `max_poll_interval`.
    first_poll: float = Field(default=0.2, gt=0, le=DAY)
    poll_interval: float = Field(default=0.1, gt=0, le=DAY)
    max_poll_interval: float = Field(default=5.0, gt=0, le=DAY)
    # A job not finished after this long is given up: its items are sent again (a job that
    # finished meanwhile has then delivered them twice).
    job_timeout: float = Field(default=300.0, gt=0, le=DAY)
    # The batch-job journal (bridge/engine/journal.py): each job's id and the records it
    # carries, so that after a crash the records' next owner asks Gameball what the job did
    # instead of sending it all again. A compacted topic, created at start unless it exists.
    # "": <kafka.group_id>-batch-jobs; null: no journal (a crash repeats unfinished jobs).
    journal_topic: str | None = ""
    # One customer's consecutive events (distinct names, the same contacts) waiting in its
    # lane go as one operation, up to 50 (bridge/engine/coalescing.py): a backlog of few
    # customers carries more per job. Off: Gameball's docs do not say in which order it
    # applies the names of one call.
    coalesce_events: bool = False

    @field_validator("status_path")
    @classmethod
    def _status_path(cls, path: str) -> str:
        path = path.strip().strip("/")
        if path.count("{id}") != 1 or any(c in path for c in "?#") or " " in path:
            raise ValueError(
                "status_path must hold {id} once, with no query, e.g. 'batches/{id}/status'"
            )
        return path

    @model_validator(mode="after")
    def _hysteresis(self) -> BatchConfig:
        if self.switch_down >= self.switch_up:
            raise ValueError(
                f"switch_down ({self.switch_down}) must be below switch_up ({self.switch_up})"
            )
        return self
