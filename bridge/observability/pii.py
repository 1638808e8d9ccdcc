"""Personal data in log lines: a structlog processor that hashes or drops it (`logging.pii`).

It works on keys: `email`, `mobile` and the configured `fields` (case-insensitive), at any
depth of the event dict (dicts inside dicts and lists). A value written into free text (an
error message quoting a record) is not found; the bridge does not log record values.

customer_id is not personal data here by default: it is how operators follow a customer
through the logs, Gameball and the dead-letter topic. Name it in `fields` to hash it too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from structlog.typing import EventDict, WrappedLogger

from bridge.observability.settings import PersonalDataConfig

DEFAULT_FIELDS = ("email", "mobile")
# Top-level keys left alone: `config` (in `bridge.config`) is the resolved configuration, in
# which `email`/`mobile` are mapping outputs whose values are paths, not personal data.
EXEMPT = frozenset({"config"})
HASH_PREFIX = "sha256:"
HASH_HEX_CHARS = 16

Mode = Literal["keep", "hash", "drop"]


class RedactPersonalData:
    def __init__(self, mode: Mode, fields: Iterable[str] = (), salt: bytes | None = None) -> None:
        self._mode = mode
        self._fields = frozenset(f.lower() for f in (*DEFAULT_FIELDS, *fields))
        # A random key per process unless configured: the same value hashes the same within
        # a run, so lines can be matched up, but a hash cannot be looked up in a list of
        # known addresses.
        self._key = salt if salt is not None else secrets.token_bytes(32)

    @classmethod
    def from_config(cls, config: PersonalDataConfig) -> RedactPersonalData:
        salt = config.salt.get_secret_value().encode() if config.salt is not None else None
        return cls(config.mode, config.fields, salt)

    def __call__(self, _logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        if self._mode == "keep":
            return event
        return self._clean(event, exempt=EXEMPT)

    def hash(self, value: object) -> str:
        digest = hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:HASH_HEX_CHARS]

    def _clean(
        self, mapping: Mapping[Any, Any], exempt: frozenset[str] = frozenset()
    ) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in mapping.items():
            if key in exempt:
                out[key] = value
            elif isinstance(key, str) and key.lower() in self._fields:
                if self._mode == "drop":
                    continue
                out[key] = None if value is None else self.hash(value)
            else:
                out[key] = self._walk(value)
        return out

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._clean(value)
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value
