"""F4 through the real client: 429 storms slow the swarm instead of failing it, no retry comes
before the server's hint, and creations never exceed the configured rate, measured at the fake."""

from __future__ import annotations

import itertools
from collections import defaultdict

import anyio
import pytest

from swarm.core.clock import SystemClock
from swarm.providers.base import ModelRequest
from swarm.providers.governor import Cooldown, RateGovernor
from swarm.testing._http import Hit
from swarm.testing.fake_predictions import Script
from swarm.testing.fake_replicate import FakeReplicate, Fault
from tests.providers.conftest import eventually, fast_provider

pytestmark = pytest.mark.anyio
K26 = "moonshotai/kimi-k2.6"
EARLY_WAKE_S = 0.005
"""Timers may fire a clock tick early; a retry this much before its hint is not 'before'."""


async def swarm_of_calls(provider: object, workers: int, calls_each: int) -> list[BaseException]:
    failures: list[BaseException] = []

    async def worker(w: int) -> None:
        for c in range(calls_each):
            try:
                await provider.complete(ModelRequest(model=K26, prompt=f"w{w} c{c}"))  # type: ignore[attr-defined]
            except Exception as exc:
                failures.append(exc)

    async with anyio.create_task_group() as tg:
        for w in range(workers):
            tg.start_soon(worker, w)
    return failures


def retries_after_429(hits: list[Hit]) -> list[tuple[float, float, float]]:
    """For each 429 with a hint: (when it was answered, the hint, when that caller came back)."""
    by_caller: dict[str | None, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_caller[hit.key].append(hit)
    gaps = []
    for attempts in by_caller.values():
        for this, following in itertools.pairwise(attempts):
            if this.status == 429 and this.retry_after is not None:
                gaps.append((this.t, float(this.retry_after), following.t))
    return gaps


@pytest.mark.parametrize("hint", [Fault(429, retry_after="1"), Fault(429, ratelimit_reset="1")])
async def test_a_storm_with_hints_fails_nothing_and_no_retry_comes_early(
    fake: FakeReplicate, hint: Fault
) -> None:
    fake.script = lambda inputs: Script(["ok"])
    fake.storm(fraction=0.5, seconds=1.5, fault=hint, seed=7)
    provider = fast_provider(fake)
    try:
        failures = await swarm_of_calls(provider, workers=30, calls_each=2)
    finally:
        await provider.aclose()
    assert failures == []
    statuses = [h.status for h in fake.creation_attempts()]
    assert statuses.count(201) == 60 and statuses.count(429) >= 5
    if hint.retry_after is not None:
        gaps = retries_after_429(fake.creation_attempts())
        assert gaps and all(back >= at + wait - EARLY_WAKE_S for at, wait, back in gaps)
    assert provider.governor.stats.rate_limited == statuses.count(429)


async def test_a_storm_without_hints_is_ridden_out_by_the_shared_cooldown(
    fake: FakeReplicate,
) -> None:
    fake.script = lambda inputs: Script(["ok"])
    fake.storm(fraction=0.5, seconds=1.0, fault=Fault(429), seed=3)
    governor = RateGovernor(60_000, cooldown=Cooldown(base_s=0.1, cap_s=0.4))
    provider = fast_provider(fake, governor=governor)
    try:
        failures = await swarm_of_calls(provider, workers=40, calls_each=2)
    finally:
        await provider.aclose()
    assert failures == []
    statuses = [h.status for h in fake.creation_attempts()]
    assert statuses.count(201) == 80 and statuses.count(429) >= 5


async def test_a_shared_cooldown_stops_every_worker_not_just_the_one_that_was_throttled(
    fake: FakeReplicate,
) -> None:
    fake.script = lambda inputs: Script(["ok"])
    fake.fail_next(Fault(429, retry_after="1"))
    provider = fast_provider(fake)
    try:
        first = anyio.Event()

        async def throttled() -> None:
            await provider.complete(ModelRequest(model=K26, prompt="first"))

        async def later() -> None:
            await eventually(lambda: bool(fake.creation_attempts()))
            await anyio.sleep(0.05)  # the 429 has been seen
            first.set()
            await provider.complete(ModelRequest(model=K26, prompt="second"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(throttled)
            tg.start_soon(later)
    finally:
        await provider.aclose()
    throttle_at = fake.creation_attempts()[0].t
    accepted = [h.t for h in fake.creation_attempts() if h.status == 201]
    assert first.is_set() and all(t >= throttle_at + 1.0 - EARLY_WAKE_S for t in accepted)


async def test_creations_never_exceed_the_configured_rate_at_the_fake(fake: FakeReplicate) -> None:
    fake.script = lambda inputs: Script(["ok"])
    # 30 in any window of a second: the per-minute rule in a test-sized window, with a quarter
    # second of slack for the time from a grant to the request's arrival
    governor = RateGovernor(30, window_s=1.0, slack_s=0.25, clock=SystemClock())
    provider = fast_provider(fake, governor=governor)
    try:
        failures = await swarm_of_calls(provider, workers=50, calls_each=1)
    finally:
        await provider.aclose()
    assert failures == []
    assert len(fake.creations) == 50
    assert fake.max_creations_in(1.0) <= 30
    span = max(fake.creations) - min(fake.creations)
    assert span >= 49 / governor.bucket.refill_per_s * 0.9  # really held back, not lucky
