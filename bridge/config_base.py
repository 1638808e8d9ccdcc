"""Building blocks shared by every part of the configuration schema (the bridge's sections in
`bridge.config`, the mapping rules in `bridge.mapping.schema`)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    # Unknown keys are errors (a typo must not be silently ignored); nothing changes after load.
    model_config = ConfigDict(extra="forbid", frozen=True)


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
