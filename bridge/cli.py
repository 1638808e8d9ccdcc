"""The `bridge` command: parse arguments, load the config, run, map failures to exit codes.

Exit codes: 0 stopped cleanly, 1 a runtime failure (Kafka unusable), 2 bad configuration or
arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from bridge import __version__, app
from bridge.config import BridgeConfig, load_config, load_mappings
from bridge.errors import BridgeError, ConfigError
from bridge.mapping import sample_runs
from bridge.observability.logging import configure_logging
from bridge.observability.pii import RedactPersonalData

if TYPE_CHECKING:
    from bridge.dlq.filters import Filters
    from bridge.kafka.dead_letter_reader import Bounds
    from bridge.replay import dead_letters

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
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="consume under <group_id>-dry-run, map and validate, log what would be sent; "
        "post, dead-letter and commit nothing",
    )

    validate = commands.add_parser("validate", help="load and check a config, then exit")
    validate.add_argument("-c", "--config", default="config/bridge.yaml")
    validate.add_argument(
        "--print",
        action="store_true",
        help="print the resolved config as YAML (secrets masked, defaults left out)",
    )

    check = commands.add_parser(
        "check", help="check the config, mappings, Kafka topics and Gameball keys, then exit"
    )
    check.add_argument("-c", "--config", default="config/bridge.yaml")

    demo = commands.add_parser(
        "demo", help="local Kafka + Gameball emulator + the sample records, end to end"
    )
    demo.add_argument("--log-format", choices=["json", "console"], default="console")
    demo.add_argument(
        "--avro",
        action="store_true",
        help="the Avro order topic of config/mappings/avro-orders, through a local Schema "
        "Registry (Apicurio, needs Java 21+)",
    )

    dlq = commands.add_parser("dlq", help="work with the dead-letter topic")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_show = dlq_commands.add_parser(
        "show",
        help="summarise the dead letters (read without committing anything)",
        description="Read the dead-letter topic by assignment, with no consumer group and no "
        "commit, and print what is there: counts by kind, Gameball code and HTTP status, "
        "source topic and mapping, hour, and the top reasons. Samples are masked by "
        "logging.pii; record keys are never printed.",
    )
    dlq_show.add_argument("-c", "--config", default="config/bridge.yaml")
    _dlq_filter_arguments(dlq_show)
    dlq_show.add_argument(
        "--samples",
        type=_count,
        default=0,
        metavar="N",
        help="print N dead letters of each kind: headers and a value preview, masked",
    )
    dlq_show.add_argument("--json", action="store_true", help="one JSON object (JSON lines)")
    dlq_show.add_argument(
        "--follow",
        action="store_true",
        help="after the summary, print each new dead letter that matches until interrupted",
    )
    dlq_replay = dlq_commands.add_parser(
        "replay", help="send dead letters through the current mappings again"
    )
    dlq_replay.add_argument("-c", "--config", default="config/bridge.yaml")
    _dlq_filter_arguments(dlq_replay)
    dlq_replay.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be replayed and what the current mappings make of it; send, "
        "dead-letter and commit nothing",
    )
    dlq_replay.add_argument(
        "--max-failed-replays",
        type=_positive,
        default=2,
        metavar="N",
        help="the loop guard: hold back a dead letter whose replays failed N times in a row "
        "for the same reason (default 2: a record that keeps failing is not replayed a "
        "third time)",
    )
    dlq_replay.add_argument(
        "--force", action="store_true", help="replay what the loop guard would hold back"
    )
    dlq_replay.add_argument("--json", action="store_true", help="the dry run's report as JSON")
    dlq_replay.add_argument("--log-format", choices=["json", "console"])
    _batch_mode_argument(dlq_replay)

    replay = commands.add_parser(
        "replay",
        help="send a time window of the source topics through the engine again (a backfill)",
        description="Read the records of [--from, --to) again, per partition, and send them "
        "through the current mappings, committing under <group_id>-replay (the live group's "
        "offsets are untouched). The end is fixed at start-up; exits once the window is done.",
    )
    replay.add_argument("-c", "--config", default="config/bridge.yaml")
    replay.add_argument(
        "--from",
        dest="from_time",
        metavar="TIME",
        required=True,
        type=_timestamp_ms,
        help="ISO 8601, e.g. 2026-11-27T10:00Z (no zone: UTC); the first record at or after it",
    )
    replay.add_argument(
        "--to",
        dest="to_time",
        metavar="TIME",
        type=_timestamp_ms,
        help="ISO 8601, exclusive; default: each partition's end when the replay starts",
    )
    replay.add_argument(
        "--topic",
        dest="topics",
        action="append",
        default=[],
        metavar="TOPIC",
        help="a subscribed topic to replay (repeatable); default: every subscribed topic",
    )
    replay.add_argument("--log-format", choices=["json", "console"])
    _batch_mode_argument(replay)

    mapping = commands.add_parser("mapping", help="work on mappings without Kafka or Gameball")
    mapping_commands = mapping.add_subparsers(dest="mapping_command", required=True)
    sample_runs.add_arguments(
        mapping_commands.add_parser(
            "test", help="print the operations sample records yield; compare with --expect"
        )
    )
    return parser


def _dlq_bound_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-offset", type=int, metavar="N", help="first dead-letter offset (each partition)"
    )
    parser.add_argument(
        "--to-offset", type=int, metavar="N", help="last dead-letter offset, inclusive"
    )
    parser.add_argument(
        "--from-time", type=_timestamp_ms, metavar="TIME", help="ISO 8601, e.g. 2026-11-27T10:00Z"
    )
    parser.add_argument("--to-time", type=_timestamp_ms, metavar="TIME", help="ISO 8601, inclusive")


def _dlq_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The dead-letter filters `dlq show` and `dlq replay` share (bridge/dlq/filters.py):
    each repeatable (any of its values), all of them together."""
    _dlq_bound_arguments(parser)
    parser.add_argument(
        "--kind",
        dest="kinds",
        action="append",
        default=[],
        metavar="KIND",
        help="bridge.error.kind (missing_field, invalid_json, rejected, ...) or a family: "
        "mapping_failed (never became operations), gameball_refused (Gameball said no)",
    )
    parser.add_argument(
        "--code",
        dest="codes",
        action="append",
        type=int,
        default=[],
        metavar="N",
        help="Gameball error code",
    )
    parser.add_argument(
        "--status",
        dest="statuses",
        action="append",
        type=int,
        default=[],
        metavar="N",
        help="HTTP status of Gameball's answer",
    )
    parser.add_argument(
        "--topic", dest="topics", action="append", default=[], metavar="TOPIC", help="source topic"
    )
    parser.add_argument(
        "--mapping",
        dest="mappings",
        action="append",
        default=[],
        metavar="NAME",
        help="the mapping the current config routes the source topic to",
    )
    parser.add_argument(
        "--reason", metavar="TEXT", help="a piece of bridge.error.message (any case)"
    )


def _dlq_filters(args: argparse.Namespace) -> Filters:
    from bridge.dlq.filters import Filters

    return Filters.of(
        kinds=args.kinds,
        codes=args.codes,
        statuses=args.statuses,
        topics=args.topics,
        mappings=args.mappings,
        reason=args.reason,
    )


def _dlq_bounds(args: argparse.Namespace) -> Bounds:
    from bridge.kafka.dead_letter_reader import Bounds

    return Bounds(args.from_offset, args.to_offset, args.from_time, args.to_time)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _batch_mode_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-mode",
        choices=["always", "auto", "never"],
        default="always",
        help="overrides delivery.batch.mode (default: always: a replay is a backlog, and "
        "Gameball's batch API sends it many times faster than single calls)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bridge.sandbox.demo import run_demo

        return run_demo(log_format=args.log_format, avro=args.avro)
    if args.command == "mapping":
        try:
            mappings = load_mappings(args.config)
        except ConfigError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        try:
            mapper, encoders = sample_runs.sample_setup(
                mappings.mappings,
                mappings.max_record_bytes,
                args.topic,
                Path(args.config).parent,
                args.schema,
                args.key_schema,
                args.registry,
            )
        except (OSError, ValueError) as exc:
            print(f"bridge mapping test: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        try:
            return sample_runs.run(args, mapper, encoders)
        finally:
            mapper.close()
    if args.command == "replay":
        from bridge.replay.source import check_window

        try:  # before the config is even read: a typo in the window is the likelier mistake
            check_window(args.from_time, args.to_time)
        except ConfigError as exc:
            print(f"bridge replay: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "validate":
        config.mapper().close()
        if args.print:
            import yaml

            print(yaml.safe_dump(config.redacted(defaults=False), sort_keys=False), end="")
        print(
            f"{args.config}: ok ({len(config.mappings)} mapping(s))",
            file=sys.stderr if args.print else sys.stdout,
        )
        return EXIT_OK
    if args.command == "check":
        return check_deployment(config)
    if args.command == "dlq" and args.dlq_command == "show":
        return show_dead_letters(config, args)
    if args.command == "dlq":
        return replay_dead_letters(config.with_batch_mode(args.batch_mode), args)
    if args.command == "replay":
        return replay_window(config.with_batch_mode(args.batch_mode), args)
    return run_until_signalled(
        config, log_format=args.log_format, log_level=args.log_level, dry_run=args.dry_run
    )


def _timestamp_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def check_deployment(config: BridgeConfig) -> int:
    from bridge.check import run_checks

    # The report goes to stdout; librdkafka's complaints (an unreachable broker) to stderr.
    configure_logging(
        format="console", level="error", secrets=config.secret_values(), stream=sys.stderr
    )
    results = run_checks(config)
    print(f"config: ok ({len(config.mappings)} mapping(s))")
    for result in results:
        print(result.line())
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILURE


def show_dead_letters(config: BridgeConfig, args: argparse.Namespace) -> int:
    from bridge.dlq.show import show

    if args.follow and (args.to_offset is not None or args.to_time is not None):
        print(
            "bridge dlq show: --follow reads on past the end: no --to-offset/--to-time",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    # The summary goes to stdout; librdkafka's complaints (an unreachable broker) to stderr.
    configure_logging(
        format="console", level="warning", secrets=config.secret_values(), stream=sys.stderr
    )
    stop = _stop_on_signals()
    try:
        show(
            config,
            filters=_dlq_filters(args),
            bounds=_dlq_bounds(args),
            samples=args.samples,
            as_json=args.json,
            follow=args.follow,
            out=sys.stdout,
            err=sys.stderr,
            should_stop=stop.is_set,
        )
    except BridgeError as exc:
        print(f"bridge dlq show: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set (a command that polls asks it between polls)."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    return stop


def replay_dead_letters(config: BridgeConfig, args: argparse.Namespace) -> int:
    from bridge.replay import dead_letters

    selection = dead_letters.Selection.of(
        config,
        _dlq_filters(args),
        max_failed_replays=args.max_failed_replays,
        force=args.force,
    )
    if args.dry_run:
        return dry_run_dead_letters(config, selection, args)
    _configure_logging(config, args.log_format)
    log = structlog.get_logger("bridge")
    try:
        ranges = dead_letters.plan(
            config,
            from_offset=args.from_offset,
            to_offset=args.to_offset,
            from_ms=args.from_time,
            to_ms=args.to_time,
        )
        asyncio.run(
            _with_signals(
                config,
                lambda stop, force: dead_letters.replay(
                    config, ranges, stop, force, selection=selection
                ),
            )
        )
    except BridgeError as exc:
        log.error("bridge.failed", error=str(exc))
        return EXIT_FAILURE
    return EXIT_OK


def dry_run_dead_letters(
    config: BridgeConfig, selection: dead_letters.Selection, args: argparse.Namespace
) -> int:
    from bridge.replay.dead_letter_dry_run import dry_run

    configure_logging(
        format="console", level="warning", secrets=config.secret_values(), stream=sys.stderr
    )
    stop = _stop_on_signals()
    try:
        report = dry_run(config, selection, _dlq_bounds(args), should_stop=stop.is_set)
    except BridgeError as exc:
        print(f"bridge dlq replay --dry-run: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        import orjson

        print(orjson.dumps(report.as_dict()).decode())
    else:
        print(report.render(config.dead_letter.topic), end="")
    return EXIT_OK


def replay_window(config: BridgeConfig, args: argparse.Namespace) -> int:
    from bridge.replay import source

    _configure_logging(config, args.log_format)
    log = structlog.get_logger("bridge")
    try:
        topics = source.topics_to_replay(config, args.topics)
    except ConfigError as exc:
        print(f"bridge replay: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BridgeError as exc:
        log.error("bridge.failed", error=str(exc))
        return EXIT_FAILURE
    try:
        ranges = source.plan(config, topics, args.from_time, args.to_time)
        asyncio.run(
            _with_signals(
                config,
                lambda stop, force: source.replay(
                    config,
                    ranges,
                    from_ms=args.from_time,
                    to_ms=args.to_time,
                    stop=stop,
                    force_stop=force,
                ),
            )
        )
    except BridgeError as exc:
        log.error("bridge.failed", error=str(exc))
        return EXIT_FAILURE
    return EXIT_OK


def _configure_logging(
    config: BridgeConfig, log_format: str | None, log_level: str | None = None
) -> None:
    configure_logging(
        format=log_format or config.logging.format,
        level=log_level or config.logging.level,
        secrets=config.secret_values(),
        personal_data=RedactPersonalData.from_config(config.logging.pii),
    )


def run_until_signalled(
    config: BridgeConfig,
    *,
    log_format: str | None = None,
    log_level: str | None = None,
    dry_run: bool = False,
) -> int:
    _configure_logging(config, log_format, log_level)
    log = structlog.get_logger("bridge")
    try:
        asyncio.run(
            _with_signals(config, lambda stop, force: app.run(config, stop, force, dry_run=dry_run))
        )
    except BridgeError as exc:
        log.error("bridge.failed", error=str(exc))
        return EXIT_FAILURE
    return EXIT_OK


async def _with_signals(
    config: BridgeConfig,
    body: Callable[[asyncio.Event, asyncio.Event], Awaitable[object]],
) -> None:
    """Run `body(stop, force)`; SIGTERM/SIGINT set `stop`, a second one sets `force`."""
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
    await body(stop, force)


if __name__ == "__main__":
    sys.exit(main())
