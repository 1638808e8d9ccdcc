"""When a job's status is asked (bridge/gameball/job_polling.py): the first call learnt so
that about four in five find the job done, and read it soon after its end; follow-ups soon,
then spaced out."""

from __future__ import annotations

import itertools

import pytest

from bridge.gameball.job_polling import FIRST_CALL_FINDS, JobTiming


def learn(timing: JobTiming, job_seconds: list[float], rounds: int) -> tuple[float, float]:
    """Jobs of these durations, in turn; the share of first calls that found theirs done
    over the last half, and the mean time from a job's end to the call that found it."""
    found, late = [], []
    for n, seconds in zip(range(rounds), itertools.cycle(job_seconds), strict=False):
        first = timing.first_call()
        finished = first >= seconds
        if n >= rounds // 2:
            found.append(finished)
            if finished:
                late.append(first - seconds)
            else:  # read at the follow-ups
                at, delays = first, timing.delays()
                next(delays)
                while at < seconds:
                    at += next(delays)
                late.append(at - seconds)
        timing.first_call_found(finished)
    return sum(found) / len(found), sum(late) / len(late)


def test_jobs_of_one_duration_are_read_soon_after_they_end() -> None:
    # Jobs of 150 ms (the emulator's 200 ms, less the create call's answer), the first call
    # starting at the configured 200 ms guess, then follow-ups from poll_interval 0.1.
    timing = JobTiming(0.2, 0.1, 5.0)
    share, late = learn(timing, [0.15], 400)
    assert share == pytest.approx(FIRST_CALL_FINDS, abs=0.1)
    assert late < 0.15 * 0.15  # read within ~15% of the job's time after its end, on average
    assert 0.15 <= timing.first_call() < 0.15 * 1.3


def test_the_first_call_settles_at_the_80th_percentile_of_varied_job_times() -> None:
    times = [0.1 + 0.01 * n for n in range(21)]  # 0.1 .. 0.3 s, evenly
    timing = JobTiming(1.0, 0.1, 5.0)
    share, _ = learn(timing, times, 3000)
    assert share == pytest.approx(FIRST_CALL_FINDS, abs=0.06)
    assert timing.first_call() == pytest.approx(0.26, abs=0.03)


def test_a_slower_gameball_is_followed_within_a_few_dozen_jobs() -> None:
    timing = JobTiming(0.2, 0.1, 5.0)
    learn(timing, [0.2], 100)
    learn(timing, [2.0], 30)  # jobs now take 2 s: each first call that misses moves 20%
    assert timing.first_call() >= 2.0 * 0.8


def test_follow_ups_start_at_a_tenth_of_the_learnt_time_and_grow_to_max_poll_interval() -> None:
    delays = JobTiming(0.2, 0.1, 0.1).delays()
    assert [next(delays) for _ in range(4)] == pytest.approx([0.2, 0.02, 0.03, 0.045])
    assert max(itertools.islice(delays, 20)) == 0.1
    slow = JobTiming(5.0, 0.1, 5.0).delays()  # a tenth of 5 s, but never over poll_interval
    assert [next(slow) for _ in range(3)] == pytest.approx([5.0, 0.1, 0.15])


def test_the_first_call_never_goes_at_once() -> None:
    timing = JobTiming(0.01, 0.1, 5.0)
    for _ in range(500):
        timing.first_call_found(True)
    assert timing.first_call() > 0
    assert next(timing.delays()) >= 0.005
