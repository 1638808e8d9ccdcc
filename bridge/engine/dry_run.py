"""Stand-ins for the two doors that change the world, for `bridge run --dry-run`: the records
are consumed, mapped and validated as usual, and what would be posted to Gameball or written
to the dead-letter topic is logged instead."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from bridge.gameball.batch_status import JobStatus
from bridge.gameball.status import SenderStatus
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.record import Operation, Resource, SourceRecord

log = structlog.get_logger("bridge.dry_run")


class DryRunSender:
    """Takes the place of `GameballSender`: every operation "succeeds" without a request."""

    async def send(
        self,
        operation: Operation,
        *,
        single: bool = False,
        wanted: Callable[[], bool] | None = None,
        origin: object = None,
    ) -> float:
        log.info(
            "dry_run.would_send",
            resource=operation.resource.value,
            customer_id=operation.customer_id,
            body=operation.body,
        )
        return 0.0

    def status(self) -> SenderStatus:
        return SenderStatus()

    def partitions_owned(self, owned: int, total: int | None) -> None:
        return None

    def listen_jobs(self, created: Callable[[Resource, int, list[object]], None]) -> None:
        return None

    async def job_outcome(self, resource: Resource, job_id: int, count: int) -> JobStatus | None:
        return None

    async def aclose(self) -> None:
        return None


class DryRunDeadLetters:
    """Takes the place of `DeadLetterProducer`: nothing is produced."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    async def write(self, record: SourceRecord, reason: DeadLetterReason) -> None:
        log.info(
            "dry_run.would_dead_letter",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            dead_letter_topic=self.topic,
            kind=reason.kind,
            reason=reason.message,
        )

    def close(self, timeout: float = 10.0) -> int:
        return 0
