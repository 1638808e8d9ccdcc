"""What the consumer door calls when the group moves partitions: a Protocol only, so that the
engine's protocols (bridge/engine/protocols.py) and the door (bridge/kafka/consumer.py) share
it without either importing the other."""

from __future__ import annotations

from typing import Protocol

from bridge.record import OffsetCommit, TopicPartition


class RebalanceListener(Protocol):
    async def partitions_assigned(
        self, partitions: list[TopicPartition], committed: dict[TopicPartition, OffsetCommit]
    ) -> None:
        """`committed`: the group's commit for each partition that has one, as read at the
        assignment (its offset, and the metadata the previous owner wrote with it)."""
        ...

    async def partitions_revoked(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetCommit]:
        """Finish what can be finished; return the offsets to commit before release."""
        ...

    async def partitions_lost(self, partitions: list[TopicPartition]) -> None: ...
