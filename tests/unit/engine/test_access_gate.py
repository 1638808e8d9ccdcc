"""The access gate's wait (bridge/engine/access_gate.py): a request cancelled while it waits
for the gate ends cancelled, even when the gate opens in the same turn (on Python 3.11,
`asyncio.wait_for` swallowed that cancellation, and the request went out after all)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.engine.access_gate import AccessGate
from bridge.errors import GameballAccessError


def test_a_request_cancelled_as_the_gate_opens_ends_cancelled() -> None:
    async def go() -> bool:
        gate = AccessGate(retry_interval=0.05)
        assert await gate.enter() is False  # open: no probe
        gate.denied(GameballAccessError("refused", status=401, code=1000))
        assert await gate.enter() is True  # the probe, once the interval has passed
        waiter = asyncio.create_task(gate.enter())
        await asyncio.sleep(0.01)  # it waits for the gate
        gate.succeeded()  # opens, waking the waiter ...
        waiter.cancel()  # ... in the same turn as its cancellation
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return waiter.cancelled()

    assert asyncio.run(go())
