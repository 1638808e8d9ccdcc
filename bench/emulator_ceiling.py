"""How fast can the Gameball emulator answer? (It must never be a benchmark's bottleneck.)

Starts the emulator in its own process through its CLI, so that client and server do not
share a GIL, drives POST /events over keep-alive connections from separate client
processes, and prints requests/s (median of --runs runs) for:

  * httpx.AsyncClient, latency 0 ms, --concurrency requests in flight;
  * httpx.AsyncClient, latency 50 ms, 256 in flight (ceiling there: 256 / 0.05 s = 5,120/s);
  * the same two cases from a raw asyncio-socket client: far cheaper per request than
    httpx, so these show the server's own ceiling rather than the client's.

Each line also gives the server process's CPU time per request, measured from /proc: the
figure that says how much load the server could take with a faster client (1 / CPU time
is its single-core ceiling). The same load is driven against a stdlib
`http.server.ThreadingHTTPServer` stand-in that answers 200 to everything, and the ratio
of the two rates is printed.

    .venv/bin/python bench/emulator_ceiling.py [--requests 20000] [--runs 3]

Loopback only; every loop is bounded by --requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
EVENTS_PATH = "/api/v4.0/integrations/events"
_LATENCY_MS = 0.0  # the baseline server's latency (set in its own process)


# servers ---------------------------------------------------------------------------------


class _BaselineHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the emulator

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        if _LATENCY_MS:
            time.sleep(_LATENCY_MS / 1000)
        body = b'{"success":true,"message":"Events processed"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _run_baseline_server(latency_ms: float) -> None:
    global _LATENCY_MS
    _LATENCY_MS = latency_ms
    ThreadingHTTPServer.request_queue_size = 1024
    ThreadingHTTPServer.daemon_threads = True
    with ThreadingHTTPServer(("127.0.0.1", 0), _BaselineHandler) as server:
        print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
        server.serve_forever()


class Server:
    """A server subprocess that prints one JSON line with its URL once it listens."""

    def __init__(self, argv: list[str]) -> None:
        self._proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.pid = self._proc.pid
        stdout: IO[str] | None = self._proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"server did not start: {argv}")
        self.url: str = json.loads(line)["url"]

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, from /proc (Linux)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emulator(latency_ms: float) -> Server:
    argv = [sys.executable, "-m", "bridge.sandbox.emulator", "--port", "0"]
    return Server([*argv, "--api-key", API_KEY, "--latency-ms", str(latency_ms)])


def baseline(latency_ms: float) -> Server:
    return Server([sys.executable, __file__, "--baseline-server", str(latency_ms)])


# clients (each runs in its own process) ---------------------------------------------------


def _body(n: int) -> dict[str, Any]:
    # A distinct customer per request: concurrent requests for one customer would
    # (rightly) get 2001 from the emulator.
    return {"customerId": f"c{n}", "events": {"bench": {"n": n}}}


async def _timed(
    workers: list[Any], warm_up: list[Any], statuses: Counter[int]
) -> dict[str, object]:
    await asyncio.gather(*warm_up)  # open every connection before the clock starts
    statuses.clear()
    await asyncio.to_thread(sys.stdin.readline)  # the parent's "go"
    started = time.time()
    await asyncio.gather(*workers)
    finished = time.time()
    return {"started": started, "finished": finished, "statuses": dict(statuses)}


def _shares(requests: int, concurrency: int) -> list[int]:
    return [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]


async def drive_httpx(url: str, requests: int, concurrency: int, pool: int) -> dict[str, object]:
    """POST `requests` events with `concurrency` in flight through httpx.AsyncClient.

    Connections are spread over several clients of `pool` connections each: httpcore
    scans its whole pool on every request, so one client with hundreds of connections
    measures httpcore rather than the server.
    """
    statuses: Counter[int] = Counter()
    headers = {"apikey": API_KEY}
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    clients = [
        httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0)
        for _ in range(max(1, concurrency // pool))
    ]
    next_id = os.getpid() * 10_000_000

    async def worker(client: httpx.AsyncClient, count: int) -> None:
        nonlocal next_id
        for _ in range(count):
            next_id += 1
            response = await client.post(EVENTS_PATH, json=_body(next_id), headers=headers)
            statuses[response.status_code] += 1

    try:
        pick = [clients[i % len(clients)] for i in range(concurrency)]
        return await _timed(
            [worker(c, n) for c, n in zip(pick, _shares(requests, concurrency), strict=True)],
            [worker(c, 2) for c in pick],
            statuses,
        )
    finally:
        for client in clients:
            await client.aclose()


async def drive_raw(url: str, requests: int, concurrency: int) -> dict[str, object]:
    """The same load from bare asyncio streams: minimal client cost per request."""
    parts = urlsplit(url)
    statuses: Counter[int] = Counter()
    next_id = os.getpid() * 10_000_000
    streams = [
        await asyncio.open_connection(parts.hostname, parts.port) for _ in range(concurrency)
    ]

    async def worker(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], count: int) -> None:
        nonlocal next_id
        reader, writer = stream
        for _ in range(count):
            next_id += 1
            payload = json.dumps(_body(next_id)).encode()
            writer.write(
                f"POST {EVENTS_PATH} HTTP/1.1\r\nhost: {parts.netloc}\r\napikey: {API_KEY}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            statuses[int(head.split(b" ", 2)[1])] += 1

    try:
        return await _timed(
            [worker(s, n) for s, n in zip(streams, _shares(requests, concurrency), strict=True)],
            [worker(s, 2) for s in streams],
            statuses,
        )
    finally:
        for _, writer in streams:
            writer.close()
            await writer.wait_closed()


def _run_client(kind: str, url: str, requests: int, concurrency: int, pool: int) -> None:
    print("ready", flush=True)
    if kind == "raw":
        result = asyncio.run(drive_raw(url, requests, concurrency))
    else:
        result = asyncio.run(drive_httpx(url, requests, concurrency, pool))
    print(json.dumps(result), flush=True)


# measuring -------------------------------------------------------------------------------


def run_once(
    server: Server, kind: str, requests: int, concurrency: int, procs: int, pool: int
) -> float:
    """One timed run with `procs` client processes; returns requests/s over all of them."""
    clients = []
    for i in range(procs):
        share = requests // procs + (i < requests % procs)
        argv = [sys.executable, __file__, "--client", kind, server.url, str(share)]
        argv += [str(concurrency // procs), str(pool)]
        clients.append(
            subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    try:
        for proc in clients:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("bench client failed to start")
        time.sleep(0.5)  # let every client finish its warm-up
        for proc in clients:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results: list[dict[str, Any]] = []
        for proc in clients:
            out, _ = proc.communicate(timeout=600)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update({int(k): v for k, v in result["statuses"].items()})
    if set(statuses) != {200} or sum(statuses.values()) != requests:
        raise RuntimeError(f"unexpected statuses: {dict(statuses)}")
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return float(requests / elapsed)


def measure(
    servers: dict[str, Server],
    kind: str,
    requests: int,
    concurrency: int,
    args: argparse.Namespace,
) -> dict[str, tuple[float, float]]:
    """For each server: median requests/s over the runs, and its CPU microseconds per
    request. Runs alternate between the servers so that a machine that gets busier or
    quieter meanwhile (other work on it) does not favour one of them."""
    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu_before = {name: server.cpu_seconds() for name, server in servers.items()}
    for _ in range(args.runs):
        for name, server in servers.items():
            rate = run_once(server, kind, requests, concurrency, args.client_procs, args.pool)
            rates[name].append(rate)
    in_flight = (concurrency // args.client_procs) * args.client_procs
    served = args.runs * (requests + 2 * in_flight)  # warm-up requests are served too
    return {
        name: (
            statistics.median(rates[name]),
            (server.cpu_seconds() - cpu_before[name]) / served * 1e6,
        )
        for name, server in servers.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Throughput ceiling of the Gameball emulator.")
    parser.add_argument("--requests", type=int, default=20_000, help="per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64, help="for the 0 ms cases")
    parser.add_argument("--client-procs", type=int, default=2, help="client processes")
    parser.add_argument("--pool", type=int, default=8, help="connections per AsyncClient")
    parser.add_argument("--baseline-server", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server is not None:
        _run_baseline_server(args.baseline_server)
        return 0
    if args.client is not None:
        kind, url, requests, concurrency, pool = args.client
        _run_client(kind, url, int(requests), int(concurrency), int(pool))
        return 0

    print(
        f"{args.requests:,} POST /events per run, median of {args.runs} runs, "
        f"{args.client_procs} client processes, {os.cpu_count()} cores",
        flush=True,
    )
    cases = [
        ("httpx", 0.0, args.concurrency),
        ("httpx", 50.0, 256),
        ("raw", 0.0, args.concurrency),
        ("raw", 50.0, 256),
    ]
    for kind, latency_ms, concurrency in cases:
        servers = {"emulator": emulator(latency_ms)}
        try:
            servers["baseline"] = baseline(latency_ms)
            figures = measure(servers, kind, args.requests, concurrency, args)
        finally:
            for server in servers.values():
                server.close()
        (emu_rate, emu_cpu), (base_rate, base_cpu) = figures["emulator"], figures["baseline"]
        print(
            f"{kind:>5} client, latency {latency_ms:>2.0f} ms, {concurrency:>3} in flight: "
            f"emulator {emu_rate:>6,.0f} req/s (server CPU {emu_cpu:>4.0f} us/req) | "
            f"ThreadingHTTPServer {base_rate:>6,.0f} req/s (server CPU {base_cpu:>4.0f} us/req)"
            f" | ratio {emu_rate / base_rate:.2f}x",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
