"""Building blocks shared by every stage's settings (`bridge.kafka.settings`,
`bridge.gameball.settings`, `bridge.engine.settings`, `bridge.observability.settings`, the
mapping rules in `bridge.mapping.settings`). A leaf: it imports nothing of the bridge, so any
stage can use it and `bridge.config` can assemble the stages' sections into one file's schema."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo


class Frozen(BaseModel):
    # Unknown keys are errors (a typo must not be silently ignored); nothing changes after load.
    # YAML reads .inf and .nan as numbers: no float setting means either (an infinite backoff
    # or commit interval never ends). Fields typed Any, such as mapping constants, are not
    # concerned.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# The longest duration a setting takes, in seconds: anything longer is surely a mistake.
DAY = 86_400.0


_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def check_topic_name(topic: str) -> str:
    if not _TOPIC_NAME.fullmatch(topic) or topic in (".", ".."):
        raise ValueError(
            f"bad topic name {topic!r}: Kafka allows 1 to 249 of a-z A-Z 0-9 . _ - "
            "(start it with ^ to make it a pattern)"
        )
    return topic


def check_pattern(topic: str) -> str:
    """A topic starting with ``^`` is a regular expression, as librdkafka's subscribe reads it."""
    if not topic.startswith("^"):
        return check_topic_name(topic)
    try:
        re.compile(topic)
    except re.error as exc:
        raise ValueError(f"bad topic pattern {topic!r}: {exc}") from exc
    return topic


# A topic name, or a regular expression starting with "^" (as librdkafka's subscribe reads it).
TopicSpec = Annotated[str, Field(min_length=1), AfterValidator(check_pattern)]


def _against_config_folder(path: Path, info: ValidationInfo) -> Path:
    # One rule for every path in a config, as for ${file:...}: relative to the config file's
    # folder (`bridge.config.parse_config` passes it as `base_dir`), so a config and the
    # certificates beside it work from any working directory. Made absolute here, because
    # librdkafka and ssl would otherwise read them from the working directory.
    try:
        path = path.expanduser()
    except RuntimeError:  # "~someone" with no such user, or no home directory at all
        raise ValueError(
            f"cannot expand '~' in {str(path)!r}: no such user or home directory"
        ) from None
    base = (info.context or {}).get("base_dir")
    if path.is_absolute() or base is None:
        return path
    # Lexically (normpath), not resolve(): Kubernetes mounts secrets through symlinks that
    # move on rotation, and a resolved path would pin the old copy.
    return Path(os.path.normpath(Path(base).absolute() / path))


# A file path in the config: relative ones start at the config file's folder.
ConfigPath = Annotated[Path, AfterValidator(_against_config_folder)]


# librdkafka property names whose values are secrets (sasl.password, ssl.key.password,
# sasl.oauthbearer.client.secret, ...): masked whenever the config is shown.
SECRET_PROPERTY = re.compile(r"password|secret|credential|\.key\.pem|token", re.IGNORECASE)
MASK = "******"


def mask_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if SECRET_PROPERTY.search(k) else v) for k, v in props.items()}
