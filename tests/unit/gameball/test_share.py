"""`rate_limits.share: auto`: an instance takes the fraction of the group's partitions it
holds, at once, larger or smaller (requests are paced: rate_limits.py says why that is safe);
nothing before the partition count is first known."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from structlog.testing import capture_logs

from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import GameballConfig


def sender(**rate_limits: Any) -> GameballSender:
    config = GameballConfig.model_validate(
        {"base_url": "https://gb.test", "api_key": "k", "rate_limits": rate_limits}
    )
    return GameballSender(config, transport=httpx.MockTransport(lambda _r: httpx.Response(200)))


def shares(steps: list[tuple[int, int | None]], **rate_limits: Any) -> list[float]:
    """The share after each (owned, total)."""

    async def go() -> list[float]:
        door = sender(**rate_limits)
        seen = []
        for owned, total in steps:
            door.partitions_owned(owned, total)
            seen.append(door.status().share)
        await door.aclose()
        return seen

    return asyncio.run(go())


def test_alone_at_the_first_assignment_the_whole_account_at_once() -> None:
    # Assigned before the partition count is known: nothing, then all of it at once.
    assert shares([(6, None), (6, 6)]) == [0.0, 1.0]


def test_joining_a_group_takes_its_part_at_once() -> None:
    with capture_logs() as logs:
        assert shares([(2, None), (2, 6)]) == [0.0, 2 / 6]
    [changed] = [line for line in logs if line["event"] == "rate_limits.share_changed"]
    assert changed["partitions"] == "2/6"


def test_shares_move_with_the_partitions_both_ways_at_once() -> None:
    # A rebalance every few seconds (a rolling deploy) never leaves the share at nothing.
    steps = [(6, 6), (3, 6), (4, 6), (2, 6), (4, 6), (0, 6), (6, 6)]
    assert shares(steps) == [1.0, 0.5, 4 / 6, 2 / 6, 4 / 6, 0.0, 1.0]


def test_a_fixed_share_ignores_the_group() -> None:
    assert shares([(2, 6), (6, 6)], share=0.5) == [0.5, 0.5]


def test_an_unknown_count_later_on_changes_nothing() -> None:
    assert shares([(6, 6), (3, None)]) == [1.0, 1.0]
