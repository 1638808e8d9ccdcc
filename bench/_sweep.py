"""The sweep of bench/backlog_drain.py: backlogs of several customer counts, batch jobs of
several durations, each row drained by `always` and `auto`, against the row's bound.

    for each job time, for each customer count:
        a fresh topic with a backlog (--records-per-customer each, at most --records)
        always ─┐ each on its own emulator at Gameball's limits (--latency-ms per call,
        auto  ──┘ the row's --batch-delay-ms per job), a fresh group, the bridge's defaults
    never: once, on the first row, for --never-seconds (single calls do not depend on the
    customers or the job time)

The bound of a row is the lower of
  * the "others" limit's: batch creates and status calls share 360 per 30 s (11.8 calls/s
    paced), each job a create and its status calls (always's calls per job, counted by the
    emulator), at most 1,000 items a job;
  * the customers': one operation per customer in a job at a time, so at most `customers`
    items per job cycle, the cycle being the create call's round trip plus the bridge's own
    mean time of a completed job from its creation to the status call that read it (its
    /metrics), i.e. what a job takes with no time lost between one job and the next.
Rates are from the first record received to the last (the group join left out). Nothing is
asserted: the aims are printed beside the figures.
"""

from __future__ import annotations

import argparse
import copy
import time
from contextlib import ExitStack
from dataclasses import dataclass

from _config import create_topic
from _emulator import emulator_server
from backlog_drain import (
    PARTITIONS,
    LogCapture,
    Phase,
    deliveries,
    produce_backlog,
    run_backlog,
)

from bridge.sandbox import kafka_tools
from bridge.sandbox.local_kafka import LocalKafka

# Gameball's "others" row, 360 per 30 s, paced by the bridge over the window and its margin.
OTHERS_PER_SECOND = 360 / 30.5
MAX_ITEMS = 1_000
DOCUMENTED_NEVER = 40.0  # events/s: 1,200 per 30 s
# The aims.
AIM_AUTO_OF_ALWAYS = 0.90
AIM_ALWAYS_OF_BOUND = 0.80


def run_sweep(args: argparse.Namespace, logs: LogCapture) -> int:
    rows = [(delay, customers) for delay in args.batch_delay_ms for customers in args.customers]
    print(
        f"sweep: customers {args.customers}, job times {args.batch_delay_ms} ms; "
        f"{args.records_per_customer} records per customer (at most {args.records:,}); "
        f"{args.latency_ms:g} ms per call; Gameball's limits on; {PARTITIONS} partitions",
        flush=True,
    )
    started = time.perf_counter()
    table: list[Row] = []
    never_rate: float | None = None
    with LocalKafka() as kafka:
        bootstrap = kafka.bootstrap_servers
        for delay, customers in rows:
            records = min(args.records, max(customers * args.records_per_customer, 1_000))
            row_args = copy.copy(args)
            row_args.records, row_args.customers, row_args.live_seconds = records, customers, 0
            topic = create_topic(bootstrap, "sweep", PARTITIONS)
            produce_backlog(bootstrap, topic, records, customers, args.event_names)
            ends = kafka_tools.end_offsets(bootstrap, topic)
            options = ("--rate-limits", "--latency-ms", str(args.latency_ms))
            options += ("--batch-delay-ms", str(delay))
            phases: dict[str, Phase] = {}
            with ExitStack() as emulators:
                modes = ["always", "auto"] + (["never"] if never_rate is None else [])
                for mode in modes:
                    emulator = emulators.enter_context(
                        emulator_server(*options, record_bodies=True)
                    )
                    phases[mode] = run_backlog(
                        mode, emulator, bootstrap, topic, ends, logs, row_args, metrics=True
                    )
                if "never" in phases and phases["never"].first_at is not None:
                    never_rate = phases["never"].drain_rate
                row = summarize(delay, customers, records, phases, args.latency_ms)
            table.append(row)
            print(
                f"  {customers:,} customers, {delay:g} ms jobs: always {row.always:.0f}/s, "
                f"auto {row.auto:.0f}/s, bound {row.bound:.0f}/s "
                f"({time.perf_counter() - started:.0f} s so far)",
                flush=True,
            )
    print_table(table, never_rate, time.perf_counter() - started)
    return 0


@dataclass(frozen=True, slots=True)
class Row:
    customers: int
    delay_ms: float
    records: int
    cycle: float  # seconds
    bound: float  # records/s
    always: float
    auto: float
    items_per_job: float
    status_per_job: float
    limited: int  # 429s, all modes
    duplicates: int
    drained: bool
    switch: float | None  # auto's first switch to batches, seconds after its first record


def summarize(
    delay: float, customers: int, records: int, phases: dict[str, Phase], latency_ms: float
) -> Row:
    always, auto = phases["always"], phases["auto"]
    stats = always.emulator_stats
    jobs = int(stats.get("batch_jobs_created", 0)) or 1
    status_per_job = int(stats.get("batch_status_calls", 0)) / jobs
    others = OTHERS_PER_SECOND / (1 + status_per_job) * MAX_ITEMS
    cycle = (always.job_seconds or delay / 1000) + latency_ms / 1000
    switch = next((at for at, _, mode, _ in auto.mode_changes if mode == "batch"), None)
    return Row(
        customers=customers,
        delay_ms=delay,
        records=records,
        cycle=cycle,
        bound=min(others, customers / cycle),
        always=rate_of(always),
        auto=rate_of(auto),
        items_per_job=int(stats.get("batch_items_received", 0)) / jobs,
        status_per_job=status_per_job,
        limited=sum(int(p.emulator_stats["rate_limited"]) for p in phases.values()),
        duplicates=sum(deliveries(p).duplicates for m, p in phases.items() if m != "never"),
        drained=always.complete and auto.complete,
        switch=switch - auto.first_at if switch is not None and auto.first_at else None,
    )


def rate_of(phase: Phase) -> float:
    return phase.drain_rate if phase.first_at is not None else 0.0


def print_table(table: list[Row], never_rate: float | None, took: float) -> None:
    print()
    print(
        f"{'customers':>9} | {'job ms':>6} | {'records':>7} | {'cycle ms':>8} | "
        f"{'bound/s':>7} | {'never/s':>7} | {'always/s':>8} | {'auto/s':>7} | "
        f"{'auto/bound':>10} | {'always/bound':>12} | {'auto/always':>11} | "
        f"{'items/job':>9} | {'status/job':>10} | {'switch s':>8} | 429s | dups"
    )
    print("-" * 160)
    never = never_rate if never_rate is not None else DOCUMENTED_NEVER
    for row in table:
        switch = "-" if row.switch is None else f"{row.switch:.1f}"
        print(
            f"{row.customers:>9,} | {row.delay_ms:>6g} | {row.records:>7,} | "
            f"{row.cycle * 1000:>8.0f} | {row.bound:>7.0f} | {never:>7.1f} | "
            f"{row.always:>8.0f} | {row.auto:>7.0f} | {row.auto / row.bound:>10.2f} | "
            f"{row.always / row.bound:>12.2f} | {row.auto / max(row.always, 1e-9):>11.2f} | "
            f"{row.items_per_job:>9.0f} | {row.status_per_job:>10.2f} | {switch:>8} | "
            f"{row.limited:>4} | {row.duplicates}" + ("" if row.drained else "  (NOT drained)")
        )
    print(
        f"never: {'measured once, on the first row' if never_rate else 'documented'} "
        f"({never:.1f}/s). bound: the lower of the others limit's "
        f"({OTHERS_PER_SECOND:.1f} calls/s over a create and always's status calls per job, "
        f"{MAX_ITEMS:,} items a job) and customers / cycle (the create's round trip plus the "
        "bridge's mean job time, creation to read). switch s: auto's first switch to batches, "
        "from the first record Gameball accepted (negative: before it). The sweep took "
        f"{took / 60:.1f} min."
    )
    print()
    print("the issue's aims (printed, not asserted):")
    for row in table:
        name = f"{row.customers:,} customers, {row.delay_ms:g} ms jobs"
        auto_ok = row.auto >= AIM_AUTO_OF_ALWAYS * row.always
        always_ok = row.always >= AIM_ALWAYS_OF_BOUND * row.bound
        print(
            f"  {name:<34} auto >= {AIM_AUTO_OF_ALWAYS:.0%} of always: "
            f"{'met' if auto_ok else 'NOT met'}; always >= {AIM_ALWAYS_OF_BOUND:.0%} of the "
            f"bound: {'met' if always_ok else 'NOT met'}"
        )
