"""`bridge dlq show`: what is on the dead-letter topic, summarised for the person on call.

    DeadLetterReader (no group, no commit) ──> read_dead_letter ──> Filters ──> Summary ──> out
                                          └── --follow: each new match printed as it arrives

Reads the chosen part of the topic once, keeping only the summary (bounded memory), with a
progress line on `err` while a long read goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import orjson

from bridge.config import BridgeConfig
from bridge.dlq.filters import Filters
from bridge.dlq.letters import DeadLetter, MappingNames, read_dead_letter
from bridge.dlq.samples import SampleMasker
from bridge.dlq.summary import Summary, render_sample
from bridge.kafka.dead_letter_reader import Bounds, DeadLetterReader
from bridge.record import SourceRecord


class Progress:
    """A progress line on a long read: at most one every `every` seconds, none for a read that
    finishes within the first interval."""

    def __init__(
        self,
        total: int,
        write: Callable[[str], None],
        *,
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = total
        self._write = write
        self._every = every
        self._clock = clock
        self._next = clock() + every

    def update(self, read: int) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._every
        share = f" ({100 * read // self._total}%)" if self._total else ""
        self._write(f"read {read:,} of {self._total:,} dead letters{share}")


def show(
    config: BridgeConfig,
    *,
    filters: Filters | None = None,
    bounds: Bounds | None = None,
    samples: int = 0,
    as_json: bool = False,
    follow: bool = False,
    out: TextIO,
    err: TextIO,
    should_stop: Callable[[], bool] = lambda: False,
    progress_every: float = 2.0,
) -> Summary:
    """Print the summary of the dead letters `bounds` and `filters` choose to `out`; with
    `follow`, then every new one that matches, until `should_stop`. Returns the summary.
    Raises `KafkaClientError`."""
    topic = config.dead_letter.topic
    reader = DeadLetterReader(config.kafka, topic)
    filters = filters or Filters()
    plan = reader.plan(bounds or Bounds())
    total = sum(end - start for start, end in plan.values())
    mapping_of = MappingNames(config.mappings)
    masker = SampleMasker(config.logging.pii)
    summary = Summary(samples=samples, masker=masker)
    progress = Progress(total, lambda line: print(line, file=err, flush=True), every=progress_every)
    caught_up = False
    for item in reader.records(plan, follow=follow, should_stop=should_stop):
        if not isinstance(item, SourceRecord):  # CAUGHT_UP: the planned part is read
            caught_up = True
            _print_summary(summary, out, as_json, _heading(topic, total, summary, filters))
            if follow and not as_json:
                print(f"\nfollowing {topic}: new dead letters as they arrive", file=out, flush=True)
            continue
        letter = read_dead_letter(item)
        mapping = mapping_of(letter.source_topic)
        if not caught_up:
            summary.read += 1
            if filters.matches(letter, mapping):
                summary.add(letter, mapping)
            progress.update(summary.read)
        elif filters.matches(letter, mapping):
            summary.add(letter, mapping)
            _print_new(letter, mapping, masker if samples else None, out, as_json)
    return summary


def _heading(topic: str, total: int, summary: Summary, filters: Filters) -> str:
    chosen = filters.describe()
    matched = f"{summary.matched:,} matched {chosen}" if chosen else f"{summary.matched:,} in all"
    return f"dead-letter topic {topic}: {summary.read:,} read (of {total:,} offsets), {matched}"


def _print_summary(summary: Summary, out: TextIO, as_json: bool, heading: str) -> None:
    if as_json:
        out.write(orjson.dumps(summary.as_dict()).decode() + "\n")
    else:
        out.write(summary.render(heading))
    out.flush()


def _print_new(
    letter: DeadLetter, mapping: str | None, masker: SampleMasker | None, out: TextIO, as_json: bool
) -> None:
    record = letter.record
    if as_json:
        doc: dict[str, object] = {
            "dead_letter": f"{record.topic}[{record.partition}]@{record.offset}",
            "source": letter.source,
            "mapping": mapping,
            "failed_at_ms": letter.failed_at_ms,
            "kind": letter.kind,
            "http_status": letter.http_status,
            "gameball_code": letter.gameball_code,
            "reason": letter.message,
            "failed_again": letter.failed_again,
        }
        if masker is not None:
            doc["sample"] = masker.sample(letter).as_dict()
        out.write(orjson.dumps(doc).decode() + "\n")
    else:
        refusal = letter.describe_refusal()
        out.write(
            f"{record.topic}[{record.partition}]@{record.offset}  {letter.source}  "
            f"{letter.kind}{f' ({refusal})' if refusal else ''}  {letter.message}\n"
        )
        if masker is not None:
            out.write("\n".join(render_sample(masker.sample(letter))[1:]) + "\n")
    out.flush()
