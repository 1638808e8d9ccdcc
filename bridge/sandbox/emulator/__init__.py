"""A local Gameball v4 API emulator for tests, demos and throughput benchmarks.

A real HTTP/1.1 server on loopback (asyncio + orjson only; HTTPS with `tls_cert`/`tls_key`,
or `--tls-cert`/`--tls-key`) that validates bodies like Gameball, answers in Gameball's error
format, records what it accepted, and injects faults on request: latency, scripted answers,
outages, rate limits. It also serves Gameball's batch API (`batches.py` gives the contract):
jobs applied after `batch_delay_ms`, per-item outcomes, two status shapes, and batch faults
(failing items, failing or never-finishing jobs).

    with GameballEmulator(api_key="k") as emu:
        ...  # point a client at emu.url
        assert emu.wait_for(10, "events")
        emu.received("events")[0].body
        emu.received("events")[0].via_batch  # the jobId when a batch applied it, else None

Besides the tracking calls it serves every operation of the bridge's table
(`bridge.operations`: refunds and cancellations, customer tags, erasure), validated as the
table says; `ledger.py` keeps the customers' balances (an order's reward, taken back by its
refunds) and tags: ``emu.customer("c-1")`` -> ``{"balance": 120, "tags": ["vip"]}``.

Control over HTTP (no auth): GET /_emulator/stats, GET /_emulator/received?resource=events,
GET /_emulator/batches, GET /_emulator/customers/<id>, GET|POST /_emulator/faults,
POST /_emulator/reset, GET /_emulator/health.
"""

from .faults import FaultStep, ItemFault
from .jobs import BatchItemError, BatchJob
from .limits import DEFAULT_LIMITS
from .server import GameballEmulator
from .state import ReceivedRequest

__all__ = [
    "DEFAULT_LIMITS",
    "BatchItemError",
    "BatchJob",
    "FaultStep",
    "GameballEmulator",
    "ItemFault",
    "ReceivedRequest",
]
