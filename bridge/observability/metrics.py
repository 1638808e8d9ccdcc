"""Prometheus metrics of one bridge process.

Each `Metrics` has its own `CollectorRegistry` (not prometheus_client's global one), so
several bridges, or several tests, can live in one process. Counters are read from the
engine's `Counters` at scrape time, gauges from the latest status snapshot; only the request
latency histogram is recorded as requests happen (`observe_request`, the Gameball client's
``observe`` hook).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from bridge.gameball.status import SenderStatus
from bridge.observability.health import Snapshot, Verdict
from bridge.record import Resource

PREFIX = "gameball_bridge"

# Counters field -> (metric name without the prefix and _total, help). A field missing here
# is still exported, as gameball_bridge_<field>_total.
COUNTERS: dict[str, tuple[str, str]] = {
    "received": ("records_received", "Records fetched from Kafka."),
    "delivered": ("records_delivered", "Records whose every operation Gameball accepted."),
    "skipped": ("records_skipped", "Records that map to no operation (committed as done)."),
    "done_before": (
        "records_done_before",
        "Records a previous owner of the partition had delivered after its last commit.",
    ),
    "dead_lettered": ("records_dead_lettered", "Records written to the dead-letter topic."),
    "abandoned": (
        "records_abandoned",
        "Records dropped unfinished on revoke or shutdown (delivered again later).",
    ),
    "retried": ("request_retries", "Gameball requests retried."),
    "requests": ("requests", "Gameball requests accepted."),
    "rate_limit_waits": (
        "rate_limit_waits",
        "Requests that waited for the client-side rate limit.",
    ),
    "resent_unknown": (
        "operations_resent_unknown",
        "Operations sent again after an attempt whose outcome was unknown (possible duplicates).",
    ),
}

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
ITEM_BUCKETS = (1, 10, 50, 100, 250, 500, 750, 1000)

# SenderStatus.batches field -> (metric name without the prefix, help); counters get _total.
BATCH_COUNTERS: dict[str, tuple[str, str]] = {
    "batches_sent": ("batches_sent", "Batch jobs created."),
    "batch_items": ("batch_items_sent", "Operations sent in batch jobs."),
    "batch_items_failed": ("batch_items_failed", "Batch items not accepted (retried or not)."),
    "jobs_failed": ("batch_jobs_failed", "Batch jobs that failed as a whole."),
    "jobs_timed_out": ("batch_jobs_timed_out", "Batch jobs given up after job_timeout."),
    "status_calls": ("batch_status_calls", "Batch status calls made."),
}


class MetricsSource(Protocol):
    def counter_values(self) -> Mapping[str, int]: ...

    def dead_letter_totals(self) -> Mapping[tuple[str, int | None, int | None, str], int]:
        """Dead letters since start by kind, HTTP status, Gameball code and source topic."""
        ...

    def snapshot(self) -> Snapshot | None: ...

    def readiness(self) -> Verdict: ...


class Metrics:
    def __init__(self, source: MetricsSource) -> None:
        self.registry = CollectorRegistry()
        self._latency = Histogram(
            f"{PREFIX}_gameball_request_seconds",
            "Gameball request latency, by endpoint (events, batch/events, batch_status, ...) "
            "and HTTP status ('error': no answer).",
            ["resource", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._job_seconds = Histogram(
            f"{PREFIX}_batch_job_seconds",
            "Batch jobs from creation to their final status, by resource and final state "
            "(completed, failed, timed_out).",
            ["resource", "state"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self._batch_items = Histogram(
            f"{PREFIX}_batch_items",
            "Items per batch job, by resource.",
            ["resource"],
            buckets=ITEM_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(source))

    def observe_job(self, resource: Resource, state: str, items: int, seconds: float) -> None:
        self._job_seconds.labels(resource.value, state).observe(seconds)
        self._batch_items.labels(resource.value).observe(items)

    def observe_request(self, endpoint: str, status: int | str, seconds: float) -> None:
        self._latency.labels(str(endpoint), str(status)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _EngineCollector:
    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        for field, value in self._source.counter_values().items():
            name, doc = COUNTERS.get(field, (field, f"The engine's {field} counter."))
            yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)
        by_reason = CounterMetricFamily(
            f"{PREFIX}_dead_letters_by_reason",
            "Records written to the dead-letter topic, by kind, HTTP status and Gameball code "
            "of the refusal (empty when none) and source topic.",
            labels=["kind", "http_status", "gameball_code", "topic"],
        )
        for (kind, status, code, topic), count in sorted(
            self._source.dead_letter_totals().items(), key=str
        ):
            by_reason.add_metric([kind, _label(status), _label(code), topic], count)
        yield by_reason
        snapshot = self._source.snapshot()
        ready = self._source.readiness().ok
        yield GaugeMetricFamily(
            f"{PREFIX}_ready", "1 when /readyz answers 200, else 0.", value=int(ready)
        )
        if snapshot is None:
            return
        engine = snapshot.engine
        yield GaugeMetricFamily(
            f"{PREFIX}_in_flight", "Records fetched and not done yet.", value=engine.in_flight
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_held_for_schema",
            "Records (of in_flight) waiting for their schema from the schema registry.",
            value=engine.held_for_schema,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_gameball_access_open",
            "0 while Gameball refuses the keys or the account, else 1.",
            value=int(engine.gameball_open),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_gameball_failure_streak",
            "Gameball requests in a row that got no answer or a 5xx.",
            value=snapshot.gameball_failures,
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_partition_lag",
            "Records between the committed offset and the end of the partition.",
            labels=["topic", "partition"],
        )
        pending = GaugeMetricFamily(
            f"{PREFIX}_partition_pending",
            "Records of the partition received and not done yet.",
            labels=["topic", "partition"],
        )
        committed = GaugeMetricFamily(
            f"{PREFIX}_partition_committed_offset",
            "The partition's offset this instance last committed (the next offset to read).",
            labels=["topic", "partition"],
        )
        for (topic, partition), part in sorted(engine.partitions.items()):
            labels = [topic, str(partition)]
            pending.add_metric(labels, part.pending)
            if part.lag is not None:
                lag.add_metric(labels, part.lag)
            if part.committed is not None:
                committed.add_metric(labels, part.committed)
        yield lag
        yield pending
        yield committed
        yield from _sender_metrics(engine.sender)


def _label(value: int | None) -> str:
    return "" if value is None else str(value)


def _sender_metrics(sender: SenderStatus) -> Iterator[Metric]:
    mode = GaugeMetricFamily(
        f"{PREFIX}_delivery_batch_mode",
        "1 while the resource travels in batch jobs, 0 while in single calls.",
        labels=["resource"],
    )
    for resource, value in sorted(sender.modes.items()):
        mode.add_metric([resource], int(value == "batch"))
    yield mode
    waiting = GaugeMetricFamily(
        f"{PREFIX}_delivery_waiting",
        "Operations handed to the sender and not yet confirmed, by resource.",
        labels=["resource"],
    )
    for resource, count in sorted(sender.waiting.items()):
        waiting.add_metric([resource], count)
    yield waiting
    yield GaugeMetricFamily(
        f"{PREFIX}_rate_limit_share",
        "The fraction of the account's Gameball rate limits this instance uses now.",
        value=sender.share,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_batch_jobs_pending",
        "Batch jobs created and not finished yet.",
        value=sender.batches.get("jobs_pending", 0),
    )
    for field, (name, doc) in BATCH_COUNTERS.items():
        yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=sender.batches.get(field, 0))
    failed = CounterMetricFamily(
        f"{PREFIX}_batch_items_failed_by_reason",
        "Batch items not accepted, by reason: the Gameball code, http_<status>, job_failed, "
        "job_timeout or no_outcome.",
        labels=["reason"],
    )
    for reason, count in sorted(sender.batch_items_failed_by_reason.items()):
        failed.add_metric([reason], count)
    yield failed
