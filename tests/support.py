"""What several test modules share: fakes of the engine's doors (each satisfies the Protocol
it stands in for, `bridge.engine.protocols`, so the engine takes it without a `type: ignore`),
scripted Gameball answers, and small config builders."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpx
import orjson

from bridge.config import BridgeConfig, parse_config
from bridge.engine.checkpoint import encode_done_above
from bridge.errors import DeadLetterError
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.record import OffsetCommit, SourceRecord, TopicPartition

TP0, TP1 = ("t", 0), ("t", 1)


class FakeDeadLetters:
    topic = "dlq"

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.written: list[tuple[SourceRecord, DeadLetterReason]] = []

    async def write(self, record: SourceRecord, reason: DeadLetterReason) -> None:
        if self.failures:
            self.failures -= 1
            raise DeadLetterError("broker said no")
        self.written.append((record, reason))

    def close(self, timeout: float = 10.0) -> int:
        return 0


class FakeSource:
    """Hands out scripted batches; records commits, pauses and resumes."""

    def __init__(self, *batches: list[SourceRecord]) -> None:
        self.batches = deque(batches)
        self.commits: list[dict[TopicPartition, int]] = []
        self.done_before: dict[TopicPartition, set[int]] = {}
        self.paused: list[list[TopicPartition]] = []
        self.resumed: list[list[TopicPartition]] = []
        self.assigned = [TP0, TP1]
        self.listener: Any = None
        self.is_paused = False

    async def start(self, listener: Any) -> None:
        self.listener = listener
        await listener.partitions_assigned(
            self.assigned,
            {
                tp: OffsetCommit(min(done), encode_done_above(min(done), done))
                for tp, done in self.done_before.items()
                if done
            },
        )

    async def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        if self.batches and not self.is_paused:
            batch = self.batches.popleft()
            if len(batch) > max_records:
                self.batches.appendleft(batch[max_records:])
            return batch[:max_records]
        await asyncio.sleep(0.005)
        return []

    async def commit(
        self, offsets: dict[TopicPartition, OffsetCommit]
    ) -> dict[TopicPartition, OffsetCommit]:
        self.commits.append({tp: c.offset for tp, c in offsets.items()})
        return dict(offsets)

    async def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused.append(partitions)
        self.is_paused = True

    async def resume(self, partitions: list[TopicPartition]) -> None:
        self.resumed.append(partitions)
        self.is_paused = False

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    async def partition_count(self) -> int:
        return len(self.assigned)

    async def close(self) -> None:
        plan = await self.listener.partitions_revoked(self.assigned)
        if plan:
            self.commits.append({tp: c.offset for tp, c in plan.items()})

    def last_commit(self, tp: TopicPartition) -> int | None:
        return next((c[tp] for c in reversed(self.commits) if tp in c), None)


Answer = int | tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], dict[str, str]] | Exception


def scripted(answers: Iterable[Answer]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    queue = list(answers)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if queue else 200
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, json={})
        status, doc, *headers = answer
        return httpx.Response(status, json=doc, headers=headers[0] if headers else None)

    return httpx.MockTransport(handler), seen


class BatchGameball:
    """Gameball's batch API, scripted for MockTransport: each create gets the next job id
    (1, 2, ...) and its items are kept; a status call finds that job completed, every item
    a success; any other call answers 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.jobs: list[list[dict[str, Any]]] = []  # each created job's items

    @property
    def paths(self) -> list[str]:
        """Each request's path under /api/v4.0/integrations/."""
        return [r.url.path.removeprefix("/api/v4.0/integrations/") for r in self.requests]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api/v4.0/integrations/")
        if request.method == "GET":  # batches/{id}/status
            count = len(self.jobs[int(path.split("/")[1]) - 1])
            items = [{"index": i, "status": "success"} for i in range(count)]
            return httpx.Response(200, json={"status": "completed", "results": items})
        if path.startswith("batch/"):
            self.jobs.append(orjson.loads(request.content)["body"])
            return httpx.Response(200, json={"jobId": len(self.jobs)})
        return httpx.Response(200, json={})


HTTPS_URL = "https://gameball.test"


def gameball_tls_config(
    tls: dict[str, Any] | None = None, base_url: str = HTTPS_URL, *, api_key: str = "k"
) -> BridgeConfig:
    """A minimal bridge config whose `gameball` section has `tls` (also used by the HTTPS
    tests over a socket, with the emulator's key)."""
    gameball: dict[str, Any] = {"base_url": base_url, "api_key": api_key}
    if tls is not None:
        gameball["tls"] = tls
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "gameball": gameball,
            "dead_letter": {"topic": "dlq"},
            "mappings": [
                {"name": "app", "topics": ["app"], "event": {"customer_id": "u", "name": "t"}}
            ],
        },
        source="bridge.yaml",
        env={},
    )
