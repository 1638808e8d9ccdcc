"""`python -m bridge.sandbox.emulator`: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys

import orjson

from .routes import Router
from .server import serve, server_tls_context


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.sandbox.emulator",
        description="Serve a local emulation of Gameball's v4 integration API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--secret-key", default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-limits", action="store_true", help="enforce Gameball's limits")
    parser.add_argument(
        "--no-retry-after", action="store_true", help="omit Retry-After from 429 answers"
    )
    parser.add_argument(
        "--no-record-bodies", action="store_true", help="keep counts only (long benchmarks)"
    )
    parser.add_argument(
        "--order-key", default=None, help="field whose value must grow per customer"
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        type=_limit,
        metavar="BUCKET=PER_S,PER_30S",
        help="override one bucket's limits (events, orders, customers, others: payments and "
        "batches); repeatable",
    )
    parser.add_argument(
        "--batch-delay-ms",
        type=float,
        default=200.0,
        help="how long a batch job takes from creation to completion (default 200)",
    )
    parser.add_argument(
        "--tls-cert", default=None, help="serve HTTPS with this PEM certificate chain"
    )
    parser.add_argument(
        "--tls-key", default=None, help="its PEM private key (default: read from --tls-cert)"
    )
    return parser


def _limit(text: str) -> tuple[str, tuple[int, int]]:
    bucket, sep, pair = text.partition("=")
    per_second, comma, per_30s = pair.partition(",")
    try:
        if not (sep and comma):
            raise ValueError
        return bucket, (int(per_second), int(per_30s))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BUCKET=PER_S,PER_30S, not {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.tls_key is not None and args.tls_cert is None:
        parser.error("--tls-key needs --tls-cert")
    try:
        tls = server_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except OSError as exc:  # ssl.SSLError too: a file that is not a PEM certificate or key
        print(f"emulator: cannot load --tls-cert/--tls-key: {exc}", file=sys.stderr)
        return 2
    try:
        router = Router(
            api_key=args.api_key,
            secret_key=args.secret_key,
            latency_ms=args.latency_ms,
            rate_limits=args.rate_limits,
            retry_after=not args.no_retry_after,
            record_bodies=not args.no_record_bodies,
            order_key=args.order_key,
            limits=dict(args.limit),
            batch_delay_ms=args.batch_delay_ms,
        )
        return asyncio.run(_serve_until_signalled(router, args.host, args.port, tls))
    except (OSError, ValueError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2


async def _serve_until_signalled(
    router: Router, host: str, port: int, tls: ssl.SSLContext | None
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def announce(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        scheme = "https" if tls is not None else "http"
        line = {"url": f"{scheme}://{shown}:{bound_port}", "port": bound_port, "pid": os.getpid()}
        print(orjson.dumps(line).decode(), flush=True)

    await serve(router, host, port, stop, announce, tls)
    return 0
