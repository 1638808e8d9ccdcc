"""The listening socket, and `GameballEmulator`: the emulator on a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .faults import ItemFaultSpec, Outage, StepSpec
from .jobs import BatchJob
from .protocol import HttpProtocol
from .routes import Router
from .state import ReceivedRequest

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_WAIT_POLL = 0.005


async def serve(
    router: Router,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[str, int], None],
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve until `stop` is set, then close every connection before returning. With `tls`
    (see `server_tls_context`), serve HTTPS instead of plain HTTP."""
    loop = asyncio.get_running_loop()
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(router, connections), host, port, backlog=4096, ssl=tls
    )
    try:
        bound = server.sockets[0].getsockname()
        on_ready(bound[0], bound[1])
        await stop.wait()
    finally:
        server.close()
        for connection in list(connections):
            connection.abort()
        await server.wait_closed()
        # Aborted transports close their sockets in a callback on the next loop turns;
        # let those run so no socket outlives the loop (ResourceWarning otherwise).
        for _ in range(3):
            await asyncio.sleep(0)


def server_tls_context(cert: str | Path, key: str | Path | None = None) -> ssl.SSLContext:
    """A server context presenting the PEM certificate chain in `cert` with the private key in
    `key` (or in `cert` itself when `key` is None). Raises OSError (ssl.SSLError included) when
    they cannot be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class GameballEmulator:
    """A Gameball v4 stand-in on loopback, serving from its own thread and event loop.

    Every method may be called from any thread.
    """

    def __init__(
        self,
        api_key: str = "test-api-key",
        secret_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        rate_limits: bool = False,
        retry_after: bool = True,
        record_bodies: bool = True,
        order_key: str | None = None,
        limits: Mapping[str, tuple[int, int]] | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        batch_delay_ms: float = 200,
    ) -> None:
        if tls_key is not None and tls_cert is None:
            raise ValueError("tls_key needs tls_cert")
        # Loaded here, so that a bad certificate fails in the caller's thread, not the server's.
        self._tls = server_tls_context(tls_cert, tls_key) if tls_cert is not None else None
        self.api_key = api_key
        self.secret_key = secret_key
        self.host = host
        self.port = port
        self._router = Router(
            api_key=api_key,
            secret_key=secret_key,
            latency_ms=latency_ms,
            rate_limits=rate_limits,
            retry_after=retry_after,
            record_bodies=record_bodies,
            order_key=order_key,
            limits=limits,
            batch_delay_ms=batch_delay_ms,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving; returns once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="gameball-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError("the emulator did not start listening in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the emulator failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            # RuntimeError: the loop already closed (it failed or was stopped before).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(_STOP_TIMEOUT)
        self._thread = None
        self._loop = None
        self._stop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await serve(self._router, self.host, self.port, self._stop, self._on_ready, self._tls)

    def _on_ready(self, host: str, port: int) -> None:
        self.port = port
        self._ready.set()

    # faults -------------------------------------------------------------------------------

    def set_latency(self, latency_ms: float) -> None:
        """Delay every answer on the Gameball endpoints by this many milliseconds."""
        self._router.set_latency(latency_ms)

    def script(self, steps: Iterable[StepSpec], resource: str | None = None) -> None:
        """Answer the next requests (to `resource`, or any) from `steps`, one per request.

        A step is a status (`503`), or a dict with `status`, `code`, `message`,
        `retry_after` (s), `drop` (close without answering), `delay_ms`. Replaces the
        previous script for that scope; normal behaviour resumes once it is used up.
        """
        self._router.script(steps, resource)

    def set_outage(self, outage: Outage) -> None:
        """Answer every request with this status, or "drop" it, until set to None."""
        self._router.set_outage(outage)

    def set_rate_limits(
        self, enabled: bool, limits: Mapping[str, tuple[int, int]] | None = None
    ) -> None:
        self._router.set_rate_limits(enabled, limits)

    def set_retry_after(self, enabled: bool) -> None:
        self._router.set_retry_after(enabled)

    def set_batch_delay(self, delay_ms: float) -> None:
        """Batch jobs created from now on complete this many milliseconds after creation."""
        self._router.configure({"batch_delay_ms": delay_ms})

    def set_batch_item_faults(self, faults: Iterable[ItemFaultSpec]) -> None:
        """Fail batch items when their job completes, by these rules (see `ItemFault`):
        e.g. `{"customers": ["c1"], "status": 500, "times": 1}` or `{"every": 10}`. Replaces
        the previous rules and their counters; an empty list clears them."""
        self._router.configure({"batch_item_faults": list(faults)})

    def set_batch_status_items(self, shape: str) -> None:
        """How the spec's status call lists items: "split" (successes under "results",
        failures under "errors") or "combined" (every item under "results", each saying its
        own outcome, "errors" empty)."""
        self._router.configure({"batch_status_items": shape})

    def fail_next_batches(self, count: int) -> None:
        """The next `count` batch jobs end `failed`, none of their items applied."""
        self._router.configure({"fail_next_batches": count})

    def hang_next_batches(self, count: int) -> None:
        """The next `count` batch jobs stay `processing` for ever (until stopped or reset)."""
        self._router.configure({"hang_next_batches": count})

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Apply settings shaped like a POST /_emulator/faults body."""
        self._router.configure(dict(settings))

    def reset(self) -> None:
        """Forget all requests and counters, clear faults, restore constructor settings."""
        self._router.reset()

    # inspection ---------------------------------------------------------------------------

    def received(self, resource: str | None = None) -> list[ReceivedRequest]:
        return self._router.received(resource)

    def accepted_count(self, resource: str | None = None) -> int:
        """Requests accepted so far (to `resource`: "orders", "refund", ...; or in all)."""
        return self._router.accepted_count(resource)

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's balance (points from orders and payments, less what refunds and
        cancellations took back) and tags, or None: never seen, or erased."""
        return self._router.customer(customer_id)

    def stats(self) -> dict[str, Any]:
        return self._router.stats()

    def batch_jobs(self) -> list[BatchJob]:
        """Every batch job since the start (or the last reset), in creation order."""
        return self._router.batch_jobs()

    def wait_for(self, count: int, resource: str | None = None, timeout: float = 30.0) -> bool:
        """Block until `count` requests (to `resource`, or in all) have been accepted."""
        deadline = time.monotonic() + timeout
        while self._router.accepted_count(resource) < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_WAIT_POLL)
        return True
