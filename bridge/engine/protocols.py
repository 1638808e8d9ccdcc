"""What the engine is handed, as Protocols: the real doors (`KafkaSource`, `GameballSender`,
`DeadLetterProducer`) satisfy them, and so do the dry run's stand-ins and the tests' fakes,
without inheriting from anything. A leaf: it imports plain data only, never the doors it
abstracts (tests/unit/test_layers.py checks it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bridge.gameball.batch_status import JobStatus
from bridge.gameball.status import SenderStatus
from bridge.kafka.dead_letter_reason import DeadLetterReason
from bridge.kafka.rebalance import RebalanceListener
from bridge.record import OffsetCommit, Operation, Resource, SourceRecord, TopicPartition


class Source(Protocol):
    """Where records come from (`bridge.kafka.consumer.KafkaSource`)."""

    async def start(self, listener: RebalanceListener) -> None: ...

    async def poll(self, max_records: int, timeout: float) -> list[SourceRecord]: ...

    async def pause(self, partitions: list[TopicPartition]) -> None: ...

    async def resume(self, partitions: list[TopicPartition]) -> None: ...

    async def commit(
        self, offsets: dict[TopicPartition, OffsetCommit]
    ) -> dict[TopicPartition, OffsetCommit]:
        """Commit; return the part of `offsets` the broker accepted."""
        ...

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...

    async def partition_count(self) -> int:
        """How many partitions the subscription spans now (the whole group's)."""
        ...

    async def close(self) -> None: ...


class Sender(Protocol):
    """Where operations go (`bridge.gameball.sender.GameballSender`)."""

    async def send(
        self,
        operation: Operation,
        *,
        single: bool = False,
        wanted: Callable[[], bool] | None = None,
        origin: object = None,
    ) -> float:
        """Return once Gameball accepted the operation, with the seconds it waited for room
        under the rate limits; raise a `DeliveryError` otherwise. `single`: as a single
        call, whatever the resource's mode (an earlier attempt's batch outcome was unknown).
        `wanted`: asked at the last moment before the wire; False withdraws the operation
        (`Withdrawn`). `origin`: where it comes from, for the `listen_jobs` listener."""
        ...

    def listen_jobs(self, created: Callable[[Resource, int, list[object]], None]) -> None:
        """Tell `created(resource, job_id, origins)` of every batch job as it is created."""
        ...

    async def job_outcome(self, resource: Resource, job_id: int, count: int) -> JobStatus | None:
        """The final status of a batch job another process created, or None."""
        ...

    def status(self) -> SenderStatus:
        """Modes, operations waiting, batch counters."""
        ...

    def partitions_owned(self, owned: int, total: int | None) -> None:
        """This instance holds `owned` of the group's `total` partitions (after a rebalance):
        its share of the account's rate limits, when that is `auto`."""
        ...

    async def aclose(self) -> None: ...


class DeadLetters(Protocol):
    """Where records that can never succeed go (`bridge.kafka.dead_letter`)."""

    @property
    def topic(self) -> str: ...

    async def write(self, record: SourceRecord, reason: DeadLetterReason) -> None:
        """Return once the broker acknowledged the dead letter; raise `DeadLetterError`."""
        ...

    def close(self, timeout: float = 10.0) -> int:
        """Flush; return how many dead letters were left unacknowledged."""
        ...
