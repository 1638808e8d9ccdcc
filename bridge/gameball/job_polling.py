"""When to ask Gameball whether a batch job is done.

    job created ──(first call: learnt)──> status? ── finished ──> each item's outcome
                                             └── not yet ──(follow-ups, growing)──> status? ...

Each status call counts against the "others" limit (30/s and 360 per 30 s, shared with batch
creates and payments), and every moment between a job's end and the call that finds it ended
is lost to the job's customers: their next operations wait for it. So the first call goes
when jobs are likely done, a time learnt from how first calls fared: 5% earlier after one
that found its job finished, 20% later after one that did not. It settles where about four
first calls in five find the job done (the 80th percentile of the job times), so a job is
read a few percent of its time after its end, and one in five costs a second call. That
second call is soon (a tenth of the learnt time, at most `poll_interval`); later ones are
spaced 1.5x more each time, up to `max_poll_interval`.
"""

from __future__ import annotations

from collections.abc import Iterator

# The share of first calls that should find their job finished, and how far one moves the
# learnt time (found finished: STEP earlier; not: STEP x FINDS / (1 - FINDS) later).
FIRST_CALL_FINDS = 0.8
STEP = 0.05
# The first follow-up, as a part of the learnt time.
FOLLOW_UP = 0.1
# The first call never goes sooner than this after the job's creation.
MIN_FIRST_CALL = 0.005


class JobTiming:
    """The status calls' schedule of one resource's jobs, learnt from its jobs."""

    def __init__(self, first_poll: float, poll_interval: float, max_poll_interval: float) -> None:
        self._first = first_poll
        self._poll_interval = poll_interval
        self._max_interval = max_poll_interval

    def first_call(self) -> float:
        """Seconds after a job's creation to ask for its status first."""
        return self._first

    def delays(self) -> Iterator[float]:
        """The waits before each status call of one job: the first call's, then follow-ups."""
        yield self._first
        interval = min(self._poll_interval, max(self._first * FOLLOW_UP, MIN_FIRST_CALL))
        while True:
            yield interval
            interval = min(interval * 1.5, self._max_interval)

    def first_call_found(self, finished: bool) -> None:
        """A job's first status call found it finished (or failed), or not yet."""
        if finished:
            self._first = max(self._first * (1 - STEP), MIN_FIRST_CALL)
        else:
            self._first *= 1 + STEP * FIRST_CALL_FINDS / (1 - FIRST_CALL_FINDS)
