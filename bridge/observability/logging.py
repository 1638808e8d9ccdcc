"""structlog setup: JSON lines on stdout by default, a console format for people.

Every line carries `event` (a stable name such as ``record.dead_lettered``), `level` and
`timestamp`. Secrets never reach a log call (config is logged through `redacted()`); the
`_mask_secrets` processor is the last line of defence for values passed by mistake.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

from bridge.observability.pii import RedactPersonalData
from bridge.settings import MASK

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _MaskSecrets:
    """Replace any occurrence of the given secret strings in string values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [s for s in secrets if len(s) >= 4]

    def __call__(self, _logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        if not self._secrets:
            return event
        for key, value in event.items():
            event[key] = self._mask(value)
        return event

    def _mask(self, value: Any) -> Any:
        # Nested values too: a secret inside a dict or a list is as leaked as a top-level one.
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: self._mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(v) for v in value]
        return value


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure_logging(
    *,
    format: str = "json",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    personal_data: RedactPersonalData | None = None,
) -> None:
    """`personal_data` hashes or drops personal data (`logging.pii`; bridge.observability.pii)."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before personal data and secrets are looked for: an
        # exception's message (a request's headers, a record's fields) is as leaked as any
        # other value. In both formats, so the console renderer gets the masked text too.
        structlog.processors.format_exc_info,
        *([personal_data] if personal_data is not None else []),
        _MaskSecrets(secrets),
    ]
    renderer: Any
    if format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
