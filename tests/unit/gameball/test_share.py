"""`rate_limits.share: auto`: an instance takes the fraction of the group's partitions it
holds, less at once, more only once the longest window has passed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from structlog.testing import capture_logs

from bridge.gameball.rate_limits import WINDOW_MARGIN
from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import GameballConfig

LONGEST = 30.0 + WINDOW_MARGIN[30.0]


def sender(**rate_limits: Any) -> GameballSender:
    config = GameballConfig.model_validate(
        {"base_url": "https://gb.test", "api_key": "k", "rate_limits": rate_limits}
    )
    return GameballSender(config, transport=httpx.MockTransport(lambda _r: httpx.Response(200)))


def shares(steps: list[tuple[int, int | None]], **rate_limits: Any) -> list[tuple[float, Any]]:
    """(share now, what waits) after each (owned, total)."""

    async def go() -> list[tuple[float, Any]]:
        door = sender(**rate_limits)
        seen = []
        for owned, total in steps:
            door.partitions_owned(owned, total)
            seen.append((door.status().share, door._limits.pending_share))
        await door.aclose()
        return seen

    return asyncio.run(go())


def test_alone_at_the_first_assignment_the_whole_account_at_once() -> None:
    # Assigned before the partition count is known: nothing, then all of it at once.
    assert shares([(6, None), (6, 6)]) == [(0.0, None), (1.0, None)]


def test_joining_a_group_starts_from_nothing_and_grows_after_the_window() -> None:
    with capture_logs() as logs:
        assert shares([(2, 6)]) == [(0.0, 2 / 6)]
    [changed] = [line for line in logs if line["event"] == "rate_limits.share_changed"]
    assert changed["partitions"] == "2/6"
    assert changed["applies_in_s"] == round(LONGEST, 1)


def test_partitions_taken_away_lower_the_share_at_once_more_of_them_later() -> None:
    assert shares([(6, 6), (3, 6), (4, 6)]) == [(1.0, None), (0.5, None), (0.5, 4 / 6)]


def test_a_fixed_share_ignores_the_group() -> None:
    assert shares([(2, 6), (6, 6)], share=0.5) == [(0.5, None), (0.5, None)]


def test_an_unknown_count_later_on_changes_nothing() -> None:
    assert shares([(6, 6), (3, None)]) == [(1.0, None), (1.0, None)]
