"""Records lost and repeated around group events: kills, clean stops, members joining and
leaving, a rolling restart; on the real local broker, with real `bridge run` processes and
the project's Gameball emulator, under both consumer group protocols.

Every record carries a unique `seq`, sent to Gameball in the event's metadata, so the figures
are exact counts from what the emulator accepted (its own process; its bodies recorded):

  lost       records never accepted by Gameball and not on the dead-letter topic, counted
             after the run: the stream stopped, the group waited until it had committed every
             partition to its end (at most --drain-wait s), every instance stopped by SIGTERM;
  repeated   records Gameball accepted more than once (the extra acceptances are in --json
             as `extra_deliveries`);
  bound      what the event allows to be repeated (below);
  exposed    (kill and SIGTERM rows) records the first process got accepted (single calls
             received before the restart, items of batch jobs created by then, applied
             before or after) and that the group's commit at its death does not cover (offset
             >= the committed offset and not in the commit's "done above" metadata, read from
             the broker right after the process died): every one of them is read again. A
             repeat above `exposed` would be a committed record sent again (a bug); repeats
             above `bound` but within `exposed` are records confirmed in the last
             commit_interval (0.25 s) before the kill, not committed yet;
  429s, overlaps  the emulator's `rate_limited` and `overlap_violations` (two requests for
             one customer at once, 2001);
  longest gap  the longest time between two consecutive acceptances of events at Gameball,
             from the run's first to its last (a kill's gap includes the restart);
  partition gap  the same between the acceptances of each partition's records, the longest
             over the partitions: a stall of some partitions that the others' deliveries hide
             from `longest gap` (on the live stream a partition gets 2.5 records/s: gaps of
             ~2 s are chance);
  first delivery  seconds from a start to the first event accepted from it: for
             start_together from the three starts; for the kill and SIGTERM rows from the
             restart (the replacement's own deliveries: single calls received, and items of
             jobs created, after the restart);
  rate vs sustained  events Gameball accepted in the scenario's window, per second, as a
             fraction of the account's sustained event rate (1,200 per 30 s: 40/s). The live
             stream offers --live-rate (30/s = 0.75 by default): a group that keeps up shows
             about that; less means it fell behind in the window (it catches up after).

The scenarios (`--scenarios`, each under each of `--protocols`: kafka.group_protocol classic
and consumer (KIP-848)). Each has a fresh topic (--partitions), group and emulator (Gameball's
auth, --latency-ms per call, batch jobs of --batch-delay-ms). The bridges run with the
defaults (commit_interval 0.25 s, max_in_flight 500, batch.max_in_flight 10,000, drain_timeout
30 s, session_timeout_ms 45 s; with `consumer` the broker's 45 s session) but what is said.
A bridge that exits by itself (not signalled) is restarted with its config as a supervisor
would, after 1, 2, 4, then every 8 s (at most 12 times a scenario); each such exit is noted
under the table with its error:

  sigkill_batching  one instance (`delivery.batch.mode: always`, kafka.instance_id set so the
        restart takes its partitions back at once) drains --backlog records; the emulator
        enforces Gameball's limits and fails batch items transiently (every 50th item once,
        500/5000). SIGKILL once --kill-at of the backlog is accepted (at a look, every
        0.05 s, that finds deliveries moving), restart at once.
        bound = the applied items of batch jobs created before the kill whose final status
        the process had not read by the kill (the emulator records, per job, when a status
        call answering `completed`/`failed` went out: created before the restart and no
        such answer before the kill), plus single calls in the air (below).
  sigkill_single  the same with `delivery.batch.mode: never` over --single-backlog records;
        rate limits off at both ends (40 events/s would make the backlog take minutes), so
        its 429 column is 0 by construction. bound = single calls in the air at the kill:
        events the emulator accepted less than --latency-ms before the kill (their answer
        had not left the emulator, so the process cannot have counted them done), or after
        the kill but before the restart (requests the dead process had written).
  sigterm  the same instance (its instance id too) and backlog (--backlog, `batch.mode:
        auto`, Gameball's limits, no faults) stopped by SIGTERM once --kill-at is accepted,
        waited for, restarted. bound 0.
  join  a live stream (--live-rate records/s, --customers customers keyed by customer, the
        default auto mode and Gameball's limits on both ends), two instances; once they hold
        every partition and --steady s passed, a third joins; observed --observe s. bound 0.
  leave  three instances on the live stream; one leaves by SIGTERM; observed --observe s.
        bound 0.
  start_together  three instances started at once on the live stream; --together s. bound 0.
  rolling_restart  three static members (`kafka.instance_id`, leave_group_on_shutdown: true)
        on the live stream; each in turn gets SIGTERM while its replacement starts under a
        NEW instance id (a Deployment's new pod); the next step waits until the old one has
        exited and the new one holds partitions, then --rolling-pause s. bound 0.

The windows of `rate vs sustained`: join and leave, the --observe s from the event; rolling
restart, from the first SIGTERM to the end of the last step's pause; start_together, its
whole run; none for the backlog rows.

Other warnings and errors the bridges logged, exit codes other than 0, and timings are
printed under the table (and in --json). Nothing is asserted: a loss, a repeat over its bound,
a 429 or a stall is a finding to report, not a failure of the run.

    .venv/bin/python bench/duplicates.py [--scenarios ...] [--protocols classic consumer]
        [--json] [--backlog 20000] [--live-rate 30] [--partitions 12] [--customers 2000]

Loopback only. Every wait is bounded; every process started is killed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from _config import bridge_config, create_topic
from _emulator import API_KEY
from _group import (
    BridgeProcess,
    Emulator,
    LiveStream,
    Positions,
    Processes,
    committed,
    covered,
    dead_lettered_seqs,
    produce_backlog,
    recording_emulator,
    wait_until,
)

from bridge.sandbox import kafka_tools
from bridge.sandbox.local_kafka import LocalKafka

SUSTAINED = 1200 / 30.0  # the account's sustained event rate
SCENARIOS = (
    "sigkill_batching",
    "sigkill_single",
    "sigterm",
    "join",
    "leave",
    "start_together",
    "rolling_restart",
)
PROTOCOLS = ("classic", "consumer")
ITEM_FAULTS = [{"every": 50, "status": 500, "code": 5000, "times": 1}]
POLL = 0.05  # seconds between looks at the emulator while waiting for a kill point
# A process that exits by itself is restarted (a supervisor's restart policy) after 1, 2, 4,
# then every 8 s, at most MAX_RESTARTS times a scenario: enough to outlast a 45 s session.
MAX_RESTARTS = 12
MAX_BACKOFF = 8.0
TOTALS = ("delivered", "done_before", "abandoned", "resent_unknown", "retried")
STOP_WAIT = 60.0  # seconds a SIGTERMed bridge may take to exit (drain_timeout is 30)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Row:
    scenario: str
    protocol: str
    lost: int | None = None
    repeated: int | None = None
    bound: int | None = None
    exposed: int | None = None
    rate_limited: int | None = None
    overlaps: int | None = None
    longest_gap_s: float | None = None
    first_delivery_s: float | None = None
    rate_vs_sustained: float | None = None
    produced: int = 0
    accepted: int = 0
    distinct_accepted: int = 0
    dead_lettered: int = 0
    extra_deliveries: int = 0
    drained: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    bridge_totals: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    bridge_code: str = ""  # HEAD/a hash of bridge/'s files when the scenario started


# -- one scenario's world -------------------------------------------------------------------------


class Run:
    """A scenario under one protocol: its topic, group, emulator and processes."""

    def __init__(
        self,
        args: argparse.Namespace,
        bootstrap: str,
        emulator: Emulator,
        workdir: Path,
        row: Row,
    ) -> None:
        self.args = args
        self.bootstrap = bootstrap
        self.emulator = emulator
        self.row = row
        self.protocol = row.protocol
        self.topic = create_topic(
            bootstrap, f"dup-{row.scenario.replace('_', '-')}", args.partitions
        )
        self.group = f"{self.topic}-g"
        self.processes = Processes(workdir)
        self.positions = Positions()  # seq -> (partition, offset) of every record produced
        self.started = time.time()
        self.restarts = 0
        self.crashes: Counter[str] = Counter()
        self._due: list[tuple[float, BridgeProcess]] = []
        self._names = itertools.count(1)

    # configs and processes ---------------------------------------------------------------------

    def config(
        self, *, mode: str = "auto", instance_id: str = "", rate_limits: bool = True
    ) -> dict[str, Any]:
        data = bridge_config(
            self.bootstrap,
            self.emulator.url,
            self.topic,
            group=self.group,
            gameball={"rate_limits": {"enabled": rate_limits}},
            delivery={"batch": {"mode": mode}},
            logging={"level": "info", "stats_interval": 10},
        )
        data["kafka"]["group_protocol"] = self.protocol
        if instance_id:
            data["kafka"]["instance_id"] = instance_id
            data["kafka"]["leave_group_on_shutdown"] = True
        return data

    def start(self, config: dict[str, Any], label: str = "") -> BridgeProcess:
        name = f"{self.row.scenario}-{self.protocol}-{label or next(self._names)}"
        return self.processes.start(name, config)

    def supervise(self) -> None:
        """Restart, with its own config, any process that exited without being signalled, as
        a Kubernetes restart policy would (CrashLoopBackOff, here 1, 2, 4, then every 8 s), at
        most MAX_RESTARTS times a scenario."""
        now = time.time()
        for process in list(self.processes.all):
            code = process.returncode
            if code is None or process.signalled_at is not None or process.restarted:
                continue
            process.restarted = True
            failure = last_failure(process)
            self.crashes[f"code {code}: {failure}"] += 1
            log(f"  {process.name} exited by itself, code {code}: {failure}")
            if self.restarts < MAX_RESTARTS:
                delay = min(2.0**self.restarts, MAX_BACKOFF)
                self.restarts += 1
                self._due.append((now + delay, process))
        for entry in list(self._due):
            due, process = entry
            if due <= now:
                self._due.remove(entry)
                config = _config_of(process)
                label = process.name.rsplit("-", 1)[-1]
                process.successor = self.start(config, f"{label}+")

    def current(self, process: BridgeProcess) -> BridgeProcess:
        """`process`, or the supervisor's latest replacement of it."""
        while process.successor is not None:
            process = process.successor
        return process

    @property
    def restarting(self) -> bool:
        return bool(self._due)

    def wait(self, condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
        def check() -> bool:
            self.supervise()
            return condition()

        return wait_until(check, timeout, interval)

    def sleep(self, seconds: float) -> None:
        self.wait(lambda: False, seconds, 0.5)

    def alive(self) -> list[BridgeProcess]:
        return [p for p in self.processes.all if p.alive]

    def all_hold(self, processes: list[BridgeProcess]) -> bool:
        """Each of `processes` holds a partition and together they hold them all."""
        holdings = [self.current(p).held_partitions() for p in processes]
        return all(holdings) and len(set().union(*holdings)) == self.args.partitions

    def mark(self, name: str, at: float | None = None) -> float:
        at = time.time() if at is None else at
        self.row.timings[name] = round(at - self.started, 2)
        return at

    # the end -------------------------------------------------------------------------------------

    def drain_and_stop(self) -> None:
        """Wait until the group has committed every partition to its end, then SIGTERM every
        process still running and wait for each."""
        began = time.time()
        deadline = began + self.args.drain_wait
        while True:
            self.supervise()
            if not self.alive() and not self.restarting:
                self.row.notes.append("no bridge left running to drain the rest")
                break
            if kafka_tools.fully_committed(self.bootstrap, self.group, self.topic):
                self.row.drained = True
                break
            if time.time() >= deadline:
                break
            time.sleep(0.5)
        self.row.timings["drained_after_s"] = round(time.time() - began, 2)
        if not self.row.drained and time.time() >= deadline:
            self.row.notes.append(
                f"NOT fully committed within --drain-wait {self.args.drain_wait:g} s"
            )
        for process in self.alive():
            process.terminate()
        for process in self.processes.all:
            if process.alive:
                code = process.wait(STOP_WAIT)
                if code is None:
                    self.row.notes.append(
                        f"{process.name} still running {STOP_WAIT:g} s after SIGTERM: killed"
                    )
                    process.kill()

    def count(self) -> list[dict[str, Any]]:
        """Fill the row's counts from the emulator and the dead-letter topic; return the
        accepted event rows (each with its `seq`)."""
        row = self.row
        received = self.emulator.received_events()
        seqs: list[int] = []
        for request in received:
            metas = list(request["body"]["events"].values())
            request["seqs"] = [int(meta["seq"]) for meta in metas]
            seqs.extend(request["seqs"])
        times = sorted(r["receivedAt"] for r in received)
        counts = Counter(seqs)
        dead = set(dead_lettered_seqs(self.bootstrap, f"{self.topic}-dlq"))
        produced = set(self.positions.by_seq)
        row.produced = len(produced)
        row.accepted = len(seqs)
        row.distinct_accepted = len(counts)
        row.dead_lettered = len(dead)
        row.lost = sum(1 for seq in produced if seq not in counts and seq not in dead)
        row.repeated = sum(1 for n in counts.values() if n > 1)
        row.extra_deliveries = sum(n - 1 for n in counts.values() if n > 1)
        stray = set(counts) - produced
        if stray:
            row.notes.append(f"{len(stray)} accepted seqs were never produced (a setup bug?)")
        stats = self.emulator.stats()
        row.rate_limited = int(stats["rate_limited"])
        row.overlaps = int(stats["overlap_violations"])
        row.longest_gap_s = round(
            max((b - a for a, b in itertools.pairwise(times)), default=0.0), 2
        )
        if times:
            # Per partition: between its records' acceptances.
            by_partition: dict[int, list[float]] = {}
            for request in received:
                for seq in request["seqs"]:
                    partition = self.positions.by_seq.get(seq, (-1, 0))[0]
                    by_partition.setdefault(partition, []).append(request["receivedAt"])
            gap, worst = max(
                (
                    max((b - a for a, b in itertools.pairwise(sorted(ts))), default=0.0),
                    partition,
                )
                for partition, ts in by_partition.items()
            )
            row.timings["longest_partition_gap_s"] = round(gap, 2)
            row.timings["its_partition"] = worst
        if stats.get("batch_items_failed"):
            row.bridge_totals["emulator_batch_items_failed"] = int(stats["batch_items_failed"])
        for process in self.processes.all:
            for doc in process.log_lines():
                level, event = doc.get("level"), doc.get("event", "?")
                if event == "shutdown.complete":
                    for key in TOTALS:
                        if isinstance(doc.get(key), int):
                            row.bridge_totals[key] = row.bridge_totals.get(key, 0) + doc[key]
                if level in ("warning", "error", "critical"):
                    row.warnings[event] = row.warnings.get(event, 0) + 1
            code = process.returncode
            if code not in (0, None, -9) and not process.restarted:
                row.notes.append(f"{process.name} exit code {code}")
        for failure, times in self.crashes.items():
            row.notes.append(
                f"{times} process(es) exited by themselves ({failure}); restarted after 1, 2, 4,"
                f" then every 8 s: {self.restarts} restart(s) in all"
            )
        return received

    def rate(self, received: list[dict[str, Any]], start: float, end: float) -> float:
        accepted = sum(len(r["seqs"]) for r in received if start <= r["receivedAt"] < end)
        return round(accepted / max(end - start, 1e-9) / SUSTAINED, 3)


def _config_of(process: BridgeProcess) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(process.config_path.read_text())
    return data


def last_failure(process: BridgeProcess) -> str:
    """The error of the process's last error line (bridge.failed first), or its last line."""
    lines = process.log_lines()
    for doc in reversed(lines):
        if doc.get("event") == "bridge.failed":
            return str(doc.get("error"))[:300]
    for doc in reversed(lines):
        if doc.get("level") in ("error", "critical") or doc.get("event") == "<not json>":
            return f"{doc.get('event')}: {doc.get('error') or doc.get('raw') or ''}"[:300]
    return ""


# -- the backlog scenarios -------------------------------------------------------------------------


def first_life(
    received: list[dict[str, Any]], jobs: dict[int, dict[str, Any]], until: float
) -> list[dict[str, Any]]:
    """The acceptances that came from what the first process sent before `until`: single
    calls received by then, and items of jobs created by then (applied when the job ended)."""
    out = []
    for request in received:
        job = request.get("viaBatch")
        if job is None:
            if request["receivedAt"] <= until:
                out.append(request)
        elif jobs[job]["createdAt"] <= until:
            out.append(request)
    return out


def kill_or_stop(run: Run, *, signal_name: str, mode: str, records: int) -> None:
    """The backlog scenarios: one instance, SIGKILL or SIGTERM at --kill-at, restart."""
    args, row, emulator = run.args, run.row, run.emulator
    single = mode == "never"
    if mode == "always":
        emulator.configure({"batch_item_faults": ITEM_FAULTS})
    produce_backlog(run.bootstrap, run.topic, range(records), args.customers, run.positions)
    config = run.config(mode=mode, instance_id="bench-0", rate_limits=not single)
    first = run.start(config, "first")
    run.mark("started")
    target = int(records * args.kill_at)
    # The signal goes at the first look that finds the target passed *and* deliveries moving
    # (more accepted than at the look before): the engine delivers in waves (it pauses at
    # max_in_flight), and a signal in the lull between two would find nothing in the air.
    counts = [0]

    def moving_past_target() -> bool:
        counts.append(emulator.accepted_events())
        return counts[-1] >= target and counts[-1] > counts[-2]

    reached = run.wait(moving_past_target, args.group_wait + 120, POLL)
    if not reached:
        row.notes.append(f"the kill point ({target} accepted) was not reached: signalled anyway")
    accepted_at_signal = emulator.accepted_events()
    if signal_name == "SIGKILL":
        t_signal = first.kill()
    else:
        t_signal = first.terminate()
        code = first.wait(STOP_WAIT)
        if code is None:
            row.notes.append(f"still running {STOP_WAIT:g} s after SIGTERM: killed")
            first.kill()
        t_dead = time.time()
        row.timings["stop_took_s"] = round(t_dead - t_signal, 2)
    run.mark("signalled", t_signal)
    commits = committed(run.bootstrap, run.group, run.topic)
    t_restart = time.time()
    run.mark("restarted", t_restart)
    run.start(config, "restart")
    log(
        f"  {signal_name} at {accepted_at_signal} accepted of {records}; "
        f"restarted {t_restart - t_signal:.1f} s later"
    )
    run.drain_and_stop()
    received = run.count()
    jobs = {job["jobId"]: job for job in emulator.batch_jobs()}
    # Nothing the restarted process sends can reach the emulator before it starts: what came
    # before that (requests left in the dead process's sockets too) was the first process's.
    earlier = first_life(received, jobs, t_restart)
    row.exposed = len(
        {
            seq
            for request in earlier
            for seq in request["seqs"]
            if not covered(commits, *run.positions.by_seq[seq])
        }
    )
    before = sorted(r["receivedAt"] for r in received if r["receivedAt"] <= t_signal)
    if before:
        row.timings["quiet_before_signal_s"] = round(t_signal - before[-1], 2)
        row.timings["accepted_last_1s_before_signal"] = sum(1 for at in before if at > t_signal - 1)
    earlier_ids = {id(r) for r in earlier}
    later = [r for r in received if id(r) not in earlier_ids]
    if later:
        row.first_delivery_s = round(min(r["receivedAt"] for r in later) - t_restart, 2)
    else:
        row.notes.append("the restarted instance delivered nothing")
    resent_committed = {
        seq
        for request in later
        for seq in request["seqs"]
        if covered(commits, *run.positions.by_seq[seq])
    }
    if resent_committed:
        row.notes.append(
            f"{len(resent_committed)} record(s) the commit at the signal covered were sent "
            f"again after the restart (seqs {sorted(resent_committed)[:5]} ...)"
        )
    if signal_name == "SIGTERM":
        row.bound = 0
        return
    latency = args.latency_ms / 1000
    in_air = sum(
        len(r["seqs"])
        for r in received
        if r.get("viaBatch") is None and t_signal - latency < r["receivedAt"] < t_restart
    )
    read_by = {}
    for at, job_id in emulator.final_status_reads():
        read_by[job_id] = min(at, read_by.get(job_id, at))
    unread_jobs = [
        job
        for job in jobs.values()
        if job["createdAt"] < t_restart and not read_by.get(job["jobId"], t_signal + 1) <= t_signal
    ]
    unread_items = sum(len(job["succeeded"]) for job in unread_jobs)
    row.bound = in_air + unread_items
    if row.repeated is not None and row.repeated > row.bound:
        row.notes.append(
            f"repeated exceeds the in-flight bound by {row.repeated - row.bound}"
            + (
                " (within `exposed`: done, not yet committed)"
                if row.repeated <= row.exposed
                else ""
            )
        )
    row.timings["single_calls_in_air"] = in_air
    row.timings["unread_jobs"] = len(unread_jobs)
    row.timings["unread_job_items"] = unread_items


# -- the live-stream scenarios ---------------------------------------------------------------------


def live(run: Run) -> None:
    args, row = run.args, run.row
    stream = LiveStream(run.bootstrap, run.topic, rate=args.live_rate, customers=args.customers)
    run.positions = stream.positions
    scenario = row.scenario
    try:
        stream.start()
        run.mark("stream_started")
        window: tuple[float, float] | None = None
        if scenario == "start_together":
            t0 = time.time()
            group = [run.start(run.config(), name) for name in "abc"]
            run.mark("started", t0)
            formed = run.wait(lambda: run.all_hold(group), args.group_wait, 0.5)
            run.mark("group_formed" if formed else "group_not_formed")
            run.sleep(max(0.0, t0 + args.together - time.time()))
            window = (t0, time.time())
        elif scenario == "rolling_restart":
            group = [run.start(run.config(instance_id=f"pod-{name}-1"), name) for name in "abc"]
            form(run, group)
            run.sleep(args.steady)
            t_event = run.mark("restart_began")
            for i in range(len(group)):
                name, old = "abc"[i], run.current(group[i])
                step = time.time()
                old.terminate()
                new = run.start(run.config(instance_id=f"pod-{name}-2"), f"{name}2")
                group[i] = new
                seen = rolling_step(run, old, new)
                for what, at in seen.items():
                    row.timings[f"step{i + 1}_{what}_s"] = round(at - step, 2)
                if "old_exit" not in seen:
                    row.notes.append(f"{old.name} still ran {STOP_WAIT:g} s after SIGTERM")
                    old.kill()
                if "new_assigned" not in seen:
                    row.notes.append(f"{new.name} held no partition within {args.group_wait:g} s")
                run.sleep(args.rolling_pause)
            window = (t_event, run.mark("restart_ended"))
            run.sleep(args.steady)
        else:
            size = 2 if scenario == "join" else 3
            group = [run.start(run.config(), name) for name in "abc"[:size]]
            form(run, group)
            run.sleep(args.steady)
            if scenario == "join":
                t_event = run.mark("joined")
                joiner = run.start(run.config(), "c")
                holds = run.wait(
                    lambda: bool(run.current(joiner).held_partitions()), args.group_wait, 0.2
                )
                row.timings["joiner_assigned_s"] = round(time.time() - t_event, 2)
                if not holds:
                    row.notes.append(f"the joiner held no partition within {args.group_wait:g} s")
            else:
                leaver = run.current(group[-1])
                t_event = run.mark("left", leaver.terminate())
                code = leaver.wait(STOP_WAIT)
                row.timings["leaver_exit_s"] = round(time.time() - t_event, 2)
                if code is None:
                    row.notes.append(f"the leaver still ran {STOP_WAIT:g} s after SIGTERM")
            run.sleep(max(0.0, t_event + args.observe - time.time()))
            window = (t_event, time.time())
    finally:
        stream.stop()
    run.mark("stream_stopped", stream.stopped_at)
    if stream.behind > 1:
        row.notes.append(f"the producer fell {stream.behind:.1f} s behind its schedule")
    run.drain_and_stop()
    received = run.count()
    row.bound = 0
    if window is not None:
        row.rate_vs_sustained = run.rate(received, *window)
    if scenario == "start_together" and received:
        row.first_delivery_s = round(min(r["receivedAt"] for r in received) - window[0], 2)


def rolling_step(run: Run, old: BridgeProcess, new: BridgeProcess) -> dict[str, float]:
    """Wait until `old` has exited and `new` holds partitions; when each happened (whichever
    did within the wait)."""
    seen: dict[str, float] = {}

    def done() -> bool:
        if "old_exit" not in seen and not old.alive:
            seen["old_exit"] = time.time()
        if "new_assigned" not in seen and run.current(new).held_partitions():
            seen["new_assigned"] = time.time()
        return len(seen) == 2

    run.wait(done, max(STOP_WAIT, run.args.group_wait), 0.2)
    return seen


def form(run: Run, group: list[BridgeProcess]) -> None:
    """Wait until `group` holds every partition (each member some) and Gameball has accepted
    an event; note it if not within --group-wait."""
    formed = run.wait(
        lambda: run.all_hold(group) and run.emulator.accepted_events() > 0,
        run.args.group_wait,
        0.5,
    )
    run.mark("group_formed" if formed else "group_not_formed")
    if not formed:
        holdings = [len(p.held_partitions()) for p in group]
        run.row.notes.append(f"group not formed within --group-wait: partitions held {holdings}")


# -- running and printing --------------------------------------------------------------------------


def run_scenario(args: argparse.Namespace, bootstrap: str, scenario: str, protocol: str) -> Row:
    row = Row(scenario, protocol)
    row.bridge_code = f"{git('rev-parse', '--short', 'HEAD')}/{bridge_fingerprint()}"
    began = time.time()
    live_stream = scenario not in ("sigkill_batching", "sigkill_single", "sigterm")
    # Gameball's limits at the emulator, but where the bridge's are off (sigkill_single).
    limits = scenario != "sigkill_single"
    with (
        tempfile.TemporaryDirectory(prefix=f"dup-{scenario}-") as workdir,
        recording_emulator(
            API_KEY,
            rate_limits=limits,
            latency_ms=args.latency_ms,
            batch_delay_ms=args.batch_delay_ms,
        ) as emulator,
    ):
        run = Run(args, bootstrap, emulator, Path(workdir), row)
        try:
            if scenario == "sigkill_batching":
                kill_or_stop(run, signal_name="SIGKILL", mode="always", records=args.backlog)
            elif scenario == "sigkill_single":
                kill_or_stop(run, signal_name="SIGKILL", mode="never", records=args.single_backlog)
            elif scenario == "sigterm":
                kill_or_stop(run, signal_name="SIGTERM", mode="auto", records=args.backlog)
            else:
                assert live_stream
                live(run)
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"
            log(traceback.format_exc())
            failures = {p.name: last_failure(p) for p in run.processes.all if last_failure(p)}
            if failures:
                row.notes.append(f"process errors: {failures}")
        finally:
            run.processes.kill_all()
            if args.keep_logs:
                keep = Path(args.keep_logs) / f"{scenario}-{protocol}"
                keep.mkdir(parents=True, exist_ok=True)
                for process in run.processes.all:
                    for path in (process.log_path, process.config_path):
                        if path.exists():
                            (keep / path.name).write_bytes(path.read_bytes())
    row.seconds = round(time.time() - began, 1)
    return row


def fmt(value: object, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'scenario':<17}{'protocol':<9}{'lost':>6}{'repeated':>9}{'bound':>7}{'exposed':>8}"
        f"{'429s':>6}{'overlaps':>9}{'longest gap s':>14}{'partition gap s':>16}"
        f"{'1st delivery s':>15}{'rate/sustained':>15}{'produced':>9}{'run s':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.error and r.lost is None:
            print(f"{r.scenario:<17}{r.protocol:<9}  FAILED: {r.error[:120]}")
            continue
        print(
            f"{r.scenario:<17}{r.protocol:<9}{fmt(r.lost):>6}{fmt(r.repeated):>9}"
            f"{fmt(r.bound):>7}{fmt(r.exposed):>8}{fmt(r.rate_limited):>6}{fmt(r.overlaps):>9}"
            f"{fmt(r.longest_gap_s, '.2f'):>14}"
            f"{fmt(r.timings.get('longest_partition_gap_s'), '.2f'):>16}"
            f"{fmt(r.first_delivery_s, '.2f'):>15}"
            f"{fmt(r.rate_vs_sustained, '.2f'):>15}{r.produced:>9}{r.seconds:>7.0f}"
        )
    print()
    for r in rows:
        details = []
        if r.error:
            details.append(f"ERROR {r.error}")
        details += r.notes
        if not r.drained and r.error is None:
            details.append("not drained: lost counts records still undelivered")
        if r.timings:
            details.append("timings " + ", ".join(f"{k} {v:g}" for k, v in r.timings.items()))
        if r.warnings:
            top = sorted(r.warnings.items(), key=lambda kv: -kv[1])[:6]
            details.append("bridge warnings " + ", ".join(f"{k} x{v}" for k, v in top))
        if r.bridge_totals:
            details.append("totals " + ", ".join(f"{k} {v}" for k, v in r.bridge_totals.items()))
        print(f"{r.scenario} / {r.protocol} (bridge {r.bridge_code}):")
        for line in details:
            print(f"    {line}")


def bridge_fingerprint() -> str:
    """A short hash of every file under bridge/ as it is now: the code a bridge process started
    now runs (bridge/ may be edited while the bench runs)."""
    root = Path(__file__).resolve().parent.parent / "bridge"
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def git(*command: str) -> str:
    done = subprocess.run(
        ["git", *command], capture_output=True, text=True, cwd=Path(__file__).parent, check=False
    )
    return done.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON lines")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=20_000, help="sigkill_batching, sigterm")
    parser.add_argument("--single-backlog", type=int, default=5_000, help="sigkill_single")
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="fraction of the backlog accepted first"
    )
    parser.add_argument("--live-rate", type=float, default=30.0, help="records/s")
    parser.add_argument("--steady", type=float, default=10.0, help="s before an event")
    parser.add_argument("--observe", type=float, default=35.0, help="s after a join or leave")
    parser.add_argument("--together", type=float, default=25.0, help="start_together's run, s")
    parser.add_argument("--rolling-pause", type=float, default=5.0, help="s after each step")
    parser.add_argument("--group-wait", type=float, default=90.0, help="s for a group to form")
    parser.add_argument("--drain-wait", type=float, default=120.0, help="s to commit everything")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the emulator's per call")
    parser.add_argument("--batch-delay-ms", type=float, default=200.0, help="a batch job's time")
    parser.add_argument("--keep-logs", default=None, help="copy the bridges' logs to this folder")
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    log(f"load average {load} ({os.cpu_count()} cores)")
    rows: list[Row] = []
    began = time.time()
    with LocalKafka() as kafka:
        log(f"broker up at {kafka.bootstrap_servers}")
        for scenario in args.scenarios:
            for protocol in args.protocols:
                log(f"{scenario} / {protocol}")
                row = run_scenario(args, kafka.bootstrap_servers, scenario, protocol)
                log(
                    f"  lost {row.lost}, repeated {row.repeated} (bound {row.bound}, exposed "
                    f"{row.exposed}), 429s {row.rate_limited}, overlaps {row.overlaps}, "
                    f"{row.seconds:.0f} s" + (f"; ERROR {row.error}" if row.error else "")
                )
                rows.append(row)
    codes = sorted({row.bridge_code for row in rows})
    print(
        "bridge code (HEAD/hash of bridge/*.py at each scenario's start): "
        + ", ".join(codes)
        + (
            "; it CHANGED during the run: rows ran different code (see each row's note)"
            if len(codes) > 1
            else ""
        )
    )
    print(
        f"duplicates around group events: {args.partitions} partitions, {args.customers:,} "
        f"customers; live stream {args.live_rate:g} records/s "
        f"({args.live_rate / SUSTAINED:.2f} of the sustained {SUSTAINED:g} events/s); backlog "
        f"{args.backlog:,} (sigkill_single {args.single_backlog:,}); emulator "
        f"{args.latency_ms:g} ms per call, jobs {args.batch_delay_ms:g} ms; "
        f"total {time.time() - began:.0f} s"
    )
    print_table(rows)
    if args.json:
        for row in rows:
            print(orjson.dumps(asdict(row)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
