"""Wire the pieces of one bridge process together and run it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from bridge import __version__
from bridge.backoff import Backoff
from bridge.config import BridgeConfig
from bridge.engine.dry_run import DryRunDeadLetters, DryRunSender
from bridge.engine.journal import JobJournal
from bridge.engine.pipeline import Pipeline
from bridge.gameball.client import RequestObserver
from bridge.gameball.sender import GameballSender, JobObserver
from bridge.gameball.tls import log_insecure_transport
from bridge.kafka.consumer import ConsumerDoor, KafkaSource
from bridge.kafka.dead_letter import DeadLetterObserver, DeadLetterProducer
from bridge.kafka.job_journal import JobJournalTopic
from bridge.observability.monitor import Monitor
from bridge.observability.stats import Counters
from bridge.record import SourceRecord

log = structlog.get_logger("bridge")

DRY_RUN_SUFFIX = "-dry-run"


def build(
    config: BridgeConfig,
    *,
    observe: RequestObserver | None = None,
    observe_job: JobObserver | None = None,
    observe_dead_letter: DeadLetterObserver | None = None,
    source: ConsumerDoor | None = None,
    restore: Callable[[SourceRecord], SourceRecord] | None = None,
    dry_run: bool = False,
) -> Pipeline:
    """The engine and its doors to the outside, each given its own section of the config.
    `source` defaults to the configured topics; replays pass their own, with `restore` (see
    `bridge.replay`). A dry run consumes under its own group (``<group_id>-dry-run``) and
    posts, dead-letters and commits nothing."""
    mapper = config.mapper()
    registry = config.schema_registry
    schema_backoff = Backoff(registry.retry_initial, registry.retry_max) if registry else None
    delivery, stats_interval = config.delivery, config.logging.stats_interval
    if dry_run:
        kafka = config.kafka.model_copy(update={"group_id": config.kafka.group_id + DRY_RUN_SUFFIX})
        return Pipeline(
            delivery,
            source=source or KafkaSource(kafka, config.subscribed_topics()),
            sender=DryRunSender(),
            dead_letters=DryRunDeadLetters(config.dead_letter.topic),
            mapper=mapper,
            stats_interval=stats_interval,
            commit_offsets=False,
            schema_backoff=schema_backoff,
        )
    retry = delivery.retry
    journal = None
    if restore is None and delivery.batch.mode != "never":
        topic = delivery.batch.journal_topic
        if topic is not None:
            # A replay (restore) leaves it out: it runs under its own group, over offsets
            # of its own choosing, and repeats its window on purpose.
            topic = topic or f"{config.kafka.group_id}-batch-jobs"
            journal = JobJournal(JobJournalTopic(config.kafka, topic))
    return Pipeline(
        delivery,
        source=source or KafkaSource(config.kafka, config.subscribed_topics()),
        sender=GameballSender(
            config.gameball,
            policy=retry.policy(),
            backoff=Backoff(retry.initial_backoff, retry.max_backoff),
            observe=observe,
            observe_job=observe_job,
            batch=delivery.batching(),
        ),
        dead_letters=DeadLetterProducer(
            config.kafka, config.dead_letter, observe=observe_dead_letter
        ),
        mapper=mapper,
        stats_interval=stats_interval,
        restore=restore,
        schema_backoff=schema_backoff,
        journal=journal,
    )


def log_start(config: BridgeConfig, *, dry_run: bool = False) -> None:
    """The start-up lines: a summary a person can read at a glance, the whole resolved config
    (secrets masked, defaults left out) at debug, and any insecure transport's warning."""
    log.info("bridge.started", version=__version__, dry_run=dry_run, **config.summary())
    # At every start, not once: whoever reads these logs later may not know it was forced.
    log_insecure_transport(config.gameball.base_url, config.gameball.tls)
    log.debug("bridge.config", config=config.redacted(defaults=False))


async def run(
    config: BridgeConfig,
    stop: asyncio.Event,
    force_stop: asyncio.Event | None = None,
    *,
    dry_run: bool = False,
) -> Counters:
    """Run one bridge until `stop` is set; return its final counters."""
    # Health, readiness and metrics: only when a port is configured.
    monitor = Monitor(config.observability) if config.observability.port is not None else None
    bridge = build(
        config,
        observe=monitor.observe_request if monitor else None,
        observe_job=monitor.observe_job if monitor else None,
        observe_dead_letter=monitor.observe_dead_letter if monitor else None,
        dry_run=dry_run,
    )
    log_start(config, dry_run=dry_run)
    if monitor is None:
        await bridge.run(stop, force_stop)
    else:
        async with monitor.serving(bridge, stop):
            await bridge.run(stop, force_stop)
    return bridge.counters
