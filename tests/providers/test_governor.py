"""The rate governor in virtual time: the bucket's bound, the shared 429 cooldown, fairness."""

from __future__ import annotations

import itertools

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.core.clock import FakeClock
from swarm.providers.governor import Cooldown, RateGovernor, TokenBucket, bucket_for

pytestmark = pytest.mark.anyio


def most_in_window(times: list[float], window: float) -> int:
    """The most events within any closed window of ``window`` seconds."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > window + 1e-9:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def grant_times(governor: RateGovernor, clock: FakeClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        await governor.acquire()
        times.append(clock.now())
    return times


def test_600_per_minute_is_a_one_second_burst_and_a_minute_and_a_second_of_slack() -> None:
    governor = RateGovernor(600, clock=FakeClock())
    assert governor.bucket.capacity == 10
    assert governor.max_in_window(61.0) == 600
    assert governor.bucket.refill_per_s * 60 == pytest.approx(580.3, abs=0.1)


@pytest.mark.parametrize("limit", [1, 2, 59, 60, 61, 119, 120, 600, 6000])
def test_no_span_ever_grants_more_than_the_limit(limit: int) -> None:
    bucket = bucket_for(limit, 61.0, now=0.0)
    assert bucket.capacity + int(bucket.refill_per_s * 61.0) <= limit


def test_reserve_hands_out_the_burst_then_queues_in_order() -> None:
    bucket = TokenBucket(capacity=2, refill_per_s=1.0, tokens=2, updated=0.0)
    waits = [bucket.reserve(0.0) for _ in range(4)]
    assert waits == [0.0, 0.0, 1.0, 2.0]


def test_a_drained_bucket_refills_only_after_the_pause() -> None:
    bucket = TokenBucket(capacity=5, refill_per_s=1.0, tokens=5, updated=0.0)
    bucket.drain(resume_at=10.0)
    assert bucket.reserve(3.0) == pytest.approx(8.0)  # 7 s of pause left, then 1 s for a token


async def test_creations_never_exceed_the_limit_in_any_minute() -> None:
    clock = FakeClock()
    governor = RateGovernor(600, clock=clock)
    times = await grant_times(governor, clock, 2000)
    assert most_in_window(times, 61.0) <= 600  # a second of transit never breaks the minute
    assert most_in_window(times, 1.0) <= governor.max_in_window(1.0)
    # and it is not needlessly slow: after the burst, 590 every 61 seconds
    assert times[-1] == pytest.approx((2000 - 10) / (590 / 61), rel=0.01)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=2, max_value=2000),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=300),
)
def test_any_arrival_pattern_keeps_every_window_within_the_limit(
    limit: int, gaps: list[float]
) -> None:
    async def scenario() -> list[float]:
        clock = FakeClock()
        governor = RateGovernor(limit, clock=clock)
        times = []
        for gap in gaps:
            clock.advance(gap)
            await governor.acquire()
            times.append(clock.now())
        return times

    times = anyio.run(scenario)
    assert most_in_window(times, 60.0) <= limit


async def test_a_429_pauses_every_creation_for_the_servers_hint() -> None:
    clock = FakeClock()
    governor = RateGovernor(600, clock=clock)
    await governor.acquire()
    clock.advance(0.5)
    resume_in = governor.rate_limited(hint_s=3.0)
    assert resume_in == 3.0
    await governor.acquire()
    assert clock.now() >= 0.5 + 3.0
    assert governor.stats.rate_limited == 1


async def test_after_a_cooldown_the_swarm_resumes_at_the_steady_rate_not_in_a_burst() -> None:
    clock = FakeClock()
    governor = RateGovernor(600, clock=clock)
    governor.rate_limited(hint_s=5.0)
    times = await grant_times(governor, clock, 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] >= 5.0
    assert all(gap >= 1 / governor.bucket.refill_per_s - 1e-9 for gap in gaps)


async def test_a_caller_waiting_for_its_token_when_a_429_arrives_waits_out_the_pause() -> None:
    clock = FakeClock()
    governor = RateGovernor(60, window_s=60.0, clock=clock)  # 1 token, then one a second
    await governor.acquire()
    granted: list[float] = []

    async def late_caller() -> None:
        await governor.acquire()
        granted.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(late_caller)
        await anyio.lowlevel.checkpoint()
        governor.rate_limited(hint_s=10.0)  # seen by another worker meanwhile
    assert granted and granted[0] >= 10.0


def test_cooldown_without_hints_doubles_per_storm_and_resets_on_success() -> None:
    cooldown = Cooldown(base_s=1.0, cap_s=8.0)
    assert cooldown.hit(0.0, None) == 1.0
    assert cooldown.hit(0.5, None) == 1.0  # in flight before the pause: nothing new
    assert cooldown.hit(1.0, None) == 1.0 + 2.0
    assert cooldown.hit(3.0, None) == 3.0 + 4.0
    assert cooldown.hit(7.0, None) == 7.0 + 8.0
    assert cooldown.hit(15.0, None) == 15.0 + 8.0  # capped
    cooldown.clear()
    assert cooldown.hit(30.0, None) == 31.0


def test_a_hint_never_shortens_a_running_pause() -> None:
    cooldown = Cooldown()
    cooldown.hit(0.0, 10.0)
    assert cooldown.hit(1.0, 2.0) == 10.0


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError):
        bucket_for(0, 60.0, 0.0)


async def test_callers_blocked_in_acquire_are_counted_for_the_live_display() -> None:
    clock = FakeClock()
    governor = RateGovernor(60, window_s=60.0, clock=clock)
    governor.rate_limited(hint_s=5.0)
    seen: list[int] = []
    release = anyio.Event()

    class Held:  # a clock whose sleeps wait for the test, so the callers stay blocked
        def now(self) -> float:
            return clock.now()

        async def sleep(self, seconds: float) -> None:
            await release.wait()
            clock.advance(seconds)

    governor.clock = Held()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(governor.acquire)
        await anyio.wait_all_tasks_blocked()
        seen.append(governor.waiting)
        release.set()
    assert seen == [3] and governor.waiting == 0
