"""A Gameball (or an account) without the batch API: a 404 without a Gameball code on the
batch path sends the resource back to single calls for good, instead of stopping all sending
the way a wrong base_url does."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from structlog.testing import capture_logs

from bridge.errors import RetryableDeliveryError
from bridge.gameball.sender import GameballSender
from bridge.gameball.settings import BatchConfig, GameballConfig
from bridge.record import Operation, Resource


def test_a_missing_batch_endpoint_falls_back_to_single_calls() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if "/batch/" in request.url.path:
            return httpx.Response(404, text="Not Found")
        return httpx.Response(200, json={})

    operation = Operation(Resource.EVENTS, "c1", {"customerId": "c1", "events": {"e": {}}})

    async def go() -> tuple[BaseException | None, str]:
        sender = GameballSender(
            GameballConfig.model_validate({"base_url": "https://gb.test", "api_key": "k"}),
            transport=httpx.MockTransport(handler),
            batch=BatchConfig(mode="always", max_wait=0.01),
        )
        try:
            with pytest.raises(RetryableDeliveryError) as first:
                await sender.send(operation)
            await sender.send(operation)  # the retry: a single call, accepted
            return first.value, sender.status().modes["events"]
        finally:
            await sender.aclose()

    with capture_logs() as logs:
        error, mode = asyncio.run(go())
    assert "no batch endpoint" in str(error)
    assert mode == "single"
    assert paths == ["/api/v4.0/integrations/batch/events", "/api/v4.0/integrations/events"]
    [changed] = [line for line in logs if line["event"] == "delivery.mode_changed"]
    assert (changed["resource"], changed["mode"]) == ("events", "single")
