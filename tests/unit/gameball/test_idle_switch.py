"""auto returns to single calls when a backlog is drained and nothing more comes: the way
down is checked whenever the engine reads the sender's status, not only on a new send."""

from __future__ import annotations

import asyncio
import time

import httpx

from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import BatchConfig, GameballConfig
from bridge.record import Resource


def test_an_idle_resource_returns_to_single_calls_after_calm_for() -> None:
    async def go() -> list[str]:
        sender = GameballSender(
            GameballConfig.model_validate({"base_url": "https://gb.test", "api_key": "k"}),
            transport=httpx.MockTransport(lambda _r: httpx.Response(200)),
            batch=BatchConfig(mode="auto", switch_up=3, switch_down=1, calm_for=0.05),
        )
        sender._modes[Resource.EVENTS].waiting(3)  # a backlog piled up: batches
        seen = [sender.status().modes["events"]]  # drained now: calm from here
        time.sleep(0.1)
        seen.append(sender.status().modes["events"])  # nothing was sent meanwhile
        await sender.aclose()
        return seen

    assert asyncio.run(go()) == ["batch", "single"]
