"""Counters the engine keeps, and the periodic `stats` log line built from them."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class Counters:
    received: int = 0
    delivered: int = 0  # records whose every operation Gameball accepted
    skipped: int = 0  # records that map to no operation
    done_before: int = 0  # records a previous owner delivered after its last commit
    retried: int = 0  # retries of single requests
    dead_lettered: int = 0
    requests: int = 0  # operations accepted by Gameball
    abandoned: int = 0  # dropped unfinished on revoke or shutdown (redelivered later)
    rate_limit_waits: int = 0  # requests that waited for the client-side rate limit

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def since(self, earlier: dict[str, int]) -> dict[str, int]:
        return {name: value - earlier.get(name, 0) for name, value in self.snapshot().items()}
