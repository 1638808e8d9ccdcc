"""The `bridge` command: parse arguments, load the config, run, map failures to exit codes.

Exit codes: 0 stopped cleanly, 1 a runtime failure (Kafka unusable), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import structlog

from bridge import __version__, app
from bridge.config import BridgeConfig, load_config
from bridge.errors import BridgeError, ConfigError
from bridge.mapping import testing as mapping_test
from bridge.observability.logging import configure_logging

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge", description="Move customer activity from Kafka topics into Gameball."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="consume, map and deliver until stopped")
    run.add_argument("-c", "--config", default="config/bridge.yaml", help="the YAML config")
    run.add_argument("--log-format", choices=["json", "console"], help="overrides logging.format")
    run.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="overrides the config"
    )

    check = commands.add_parser("validate", help="load and check a config, then exit")
    check.add_argument("-c", "--config", default="config/bridge.yaml")

    demo = commands.add_parser(
        "demo", help="local Kafka + Gameball emulator + the sample records, end to end"
    )
    demo.add_argument("--log-format", choices=["json", "console"], default="console")

    mapping = commands.add_parser("mapping", help="work on mappings without Kafka or Gameball")
    mapping_commands = mapping.add_subparsers(dest="mapping_command", required=True)
    mapping_test.add_arguments(
        mapping_commands.add_parser(
            "test", help="print the operations sample records yield; compare with --expect"
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bridge.sandbox.demo import run_demo

        return run_demo(log_format=args.log_format)
    if args.command == "mapping":
        return mapping_test.run(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "validate":
        from bridge.mapping.mapper import Mapper

        Mapper(config.mappings, max_record_bytes=config.dead_letter.max_record_bytes)
        print(f"{args.config}: ok ({len(config.mappings)} mapping(s))")
        return EXIT_OK
    return run_until_signalled(config, log_format=args.log_format, log_level=args.log_level)


def run_until_signalled(
    config: BridgeConfig, *, log_format: str | None = None, log_level: str | None = None
) -> int:
    secrets = [config.gameball.api_key.get_secret_value()]
    if config.gameball.secret_key is not None:
        secrets.append(config.gameball.secret_key.get_secret_value())
    configure_logging(
        format=log_format or config.logging.format,
        level=log_level or config.logging.level,
        secrets=secrets,
    )
    log = structlog.get_logger("bridge")
    try:
        asyncio.run(_run(config))
    except BridgeError as exc:
        log.error("bridge.failed", error=str(exc))
        return EXIT_FAILURE
    return EXIT_OK


async def _run(config: BridgeConfig) -> None:
    stop, force = asyncio.Event(), asyncio.Event()
    log = structlog.get_logger("bridge")

    def on_signal(signum: int) -> None:
        # First signal: stop fetching and drain. Second: stop draining now.
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("shutdown.forced", signal=name)
            force.set()
        else:
            log.info("shutdown.requested", signal=name, drain_timeout=config.delivery.drain_timeout)
            stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await app.run(config, stop, force)


if __name__ == "__main__":
    sys.exit(main())
