"""Creation retries: which answers are retried, what server hints mean, and the loop that waits
out an outage of minutes with capped, jittered backoff before it gives up (F5)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import anyio
import pytest

from swarm.core.clock import FakeClock
from swarm.core.retry import RetryPolicy
from swarm.errors import ConfigError, ProviderError, RateLimited
from swarm.providers.base import RateWait, RetryNotice
from swarm.providers.governor import RateGovernor
from swarm.providers.retry import (
    CREATION_POLICY,
    DEFAULT_MAX_OUTAGE_S,
    MAX_CREATE_TRIES,
    MAX_OUTAGE_ENV,
    WAIT_NOTICE_MIN_S,
    is_retryable_status,
    max_outage_from_env,
    parse_detail_hint,
    parse_ratelimit_reset,
    parse_retry_after,
    retry_hint,
    with_creation_retries,
)

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    http_date = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert parse_retry_after(http_date, now_epoch=NOW) == pytest.approx(30.0)
    iso = datetime.fromtimestamp(NOW + 12, UTC).isoformat()
    assert parse_retry_after(iso, now_epoch=NOW) == pytest.approx(12.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("100000") == 300.0  # a bad header cannot stall a run for a day


def test_ratelimit_reset_as_a_delay_or_an_epoch_time() -> None:
    assert parse_ratelimit_reset("2") == 2.0
    assert parse_ratelimit_reset(str(NOW + 4), now_epoch=NOW) == pytest.approx(4.0)
    assert parse_ratelimit_reset("x") is None


def test_replicates_throttle_text_gives_a_hint_when_no_header_does() -> None:
    assert parse_detail_hint("Request was throttled. Expected available in 1 second.") == 1.0
    assert parse_detail_hint("Your rate limit resets in ~30s.") == 30.0
    assert parse_detail_hint("nothing here") is None


def test_headers_win_over_the_text_and_retry_after_over_ratelimit_reset() -> None:
    text = "Expected available in 9 seconds"
    assert retry_hint({"retry-after": "2", "ratelimit-reset": "5"}, text) == 2.0
    assert retry_hint({"ratelimit-reset": "5"}, text) == 5.0
    assert retry_hint({}, text) == 9.0
    assert retry_hint({}, None) is None


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 599])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_are_not(status: int) -> None:
    assert not is_retryable_status(status)


class Script:
    """A create() that fails with the given errors, then succeeds."""

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "created"


def loop_parts() -> tuple[FakeClock, RateGovernor]:
    clock = FakeClock()
    return clock, RateGovernor(60_000, clock=clock)


async def test_transient_failures_are_retried_with_backoff_until_success() -> None:
    clock, governor = loop_parts()
    create = Script(ProviderError("boom", retryable=True, status=503), RateLimited("slow"))
    result, tries = await with_creation_retries(
        create, governor=governor, clock=clock, rng=random.Random(0)
    )
    assert (result, tries, create.calls) == ("created", 3, 3)
    assert governor.stats.rate_limited == 1


async def test_a_429_hint_is_waited_out_in_full_and_pauses_the_governor() -> None:
    clock, governor = loop_parts()
    create = Script(RateLimited("slow down", retry_after_s=4.0))
    await with_creation_retries(create, governor=governor, clock=clock, rng=random.Random(0))
    assert clock.now() >= 4.0
    assert max(clock.slept) >= 4.0


async def test_a_permanent_failure_is_raised_at_once() -> None:
    clock, governor = loop_parts()
    create = Script(ProviderError("bad input", retryable=False, status=422))
    with pytest.raises(ProviderError, match="bad input") as caught:
        await with_creation_retries(create, governor=governor, clock=clock, rng=random.Random(0))
    assert create.calls == 1 and not caught.value.retryable and clock.slept == []


async def test_the_last_failure_surfaces_retryable_after_the_allowed_tries() -> None:
    clock, governor = loop_parts()
    create = Script(*(RateLimited("slow", retry_after_s=1.0) for _ in range(5)))
    with pytest.raises(RateLimited, match="after 3 tries") as caught:
        await with_creation_retries(
            create,
            governor=governor,
            clock=clock,
            rng=random.Random(0),
            policy=RetryPolicy(0.1, 1.0),
            max_tries=3,
        )
    assert create.calls == 3 and caught.value.retryable and caught.value.retry_after_s == 1.0


class DownUntil:
    """A create() against a provider that answers 503 (or 429) until ``back_at`` on the clock."""

    def __init__(self, clock: FakeClock, back_at: float, error: ProviderError) -> None:
        self.clock, self.back_at, self.error = clock, back_at, error
        self.tries: list[float] = []

    async def __call__(self) -> str:
        self.tries.append(self.clock.now())
        if self.clock.now() < self.back_at:
            raise self.error
        return "created"


async def test_a_provider_down_for_minutes_is_waited_out_with_capped_jittered_backoff() -> None:
    clock, governor = loop_parts()
    create = DownUntil(clock, 240.0, ProviderError("unavailable", retryable=True, status=503))
    result, tries = await with_creation_retries(
        create, governor=governor, clock=clock, rng=random.Random(4), max_outage_s=300.0
    )
    assert result == "created" and tries == len(create.tries) > MAX_CREATE_TRIES
    policy = CREATION_POLICY
    for n, delay in enumerate(clock.slept, start=1):  # capped exponential: U[0, min(cap, b·2ⁿ⁻¹)]
        assert 0 <= delay <= min(policy.cap_s, policy.base_s * 2 ** (n - 1))
    capped = clock.slept[6:]  # from the 7th retry on, the ceiling is the cap
    assert len(set(capped)) == len(capped) and max(capped) > policy.cap_s / 2  # jittered
    assert 240.0 <= clock.now() < 240.0 + policy.cap_s  # back within one capped wait


async def test_a_429_storm_of_minutes_is_ridden_out_through_the_shared_cooldown() -> None:
    clock, governor = loop_parts()
    create = DownUntil(clock, 120.0, RateLimited("throttled"))
    result, _ = await with_creation_retries(
        create, governor=governor, clock=clock, rng=random.Random(2), max_outage_s=300.0
    )
    assert result == "created" and governor.stats.rate_limited == len(create.tries) - 1
    assert 120.0 <= clock.now() < 120.0 + governor.cooldown.cap_s + CREATION_POLICY.cap_s


async def test_an_outage_longer_than_the_patience_fails_with_a_clear_retryable_error() -> None:
    clock, governor = loop_parts()
    create = DownUntil(
        clock, float("inf"), ProviderError("unavailable", retryable=True, status=503)
    )
    with pytest.raises(ProviderError, match=r"still failing after \d+ tries over 3\d\ds") as caught:
        await with_creation_retries(
            create, governor=governor, clock=clock, rng=random.Random(0), max_outage_s=300.0
        )
    assert caught.value.retryable and caught.value.status == 503
    assert caught.value.hint is not None and MAX_OUTAGE_ENV in caught.value.hint
    assert 300.0 <= clock.now() < 300.0 + CREATION_POLICY.cap_s


def test_the_outage_window_comes_from_the_environment() -> None:
    assert max_outage_from_env({}) == DEFAULT_MAX_OUTAGE_S == 300.0
    assert max_outage_from_env({MAX_OUTAGE_ENV: " 900 "}) == 900.0
    assert max_outage_from_env({MAX_OUTAGE_ENV: "0"}) == 0.0
    for bad in ("soon", "-1", "inf", "nan"):
        with pytest.raises(ConfigError, match=MAX_OUTAGE_ENV):
            max_outage_from_env({MAX_OUTAGE_ENV: bad})


async def test_each_retry_says_what_fails_where_and_how_long_it_will_keep_trying() -> None:
    clock, governor = loop_parts()
    errors = [ProviderError("cannot reach x", retryable=True) for _ in range(3)]
    create = Script(*errors)
    notices: list[RetryNotice] = []
    await with_creation_retries(
        create,
        governor=governor,
        clock=clock,
        rng=random.Random(0),
        max_outage_s=60.0,
        where="http://127.0.0.1:9/v1",
        on_retry=notices.append,
    )
    assert [n.tries for n in notices] == [1, 2, 3]
    assert all(n.where == "http://127.0.0.1:9/v1" and n.error == "cannot reach x" for n in notices)
    assert notices[0].failing_s == 0 and notices[0].gives_up_in_s == 60.0
    assert notices[2].failing_s > 0 and notices[2].gives_up_in_s == 60.0 - notices[2].failing_s
    assert "gives up in 60s" in notices[0].describe()


async def test_a_calls_rate_limit_waits_are_told_once_with_counts_and_seconds() -> None:
    clock, governor = loop_parts()
    create = Script(RateLimited("slow", retry_after_s=2.0), RateLimited("slow", retry_after_s=3.0))
    waits: list[RateWait] = []
    await with_creation_retries(
        create, governor=governor, clock=clock, rng=random.Random(0), on_waited=waits.append
    )
    assert len(waits) == 1  # one record for the whole call, not one per 429
    wait = waits[0]
    assert (wait.tries, wait.rate_limited, wait.status, wait.retry_after_s) == (3, 2, 429, 3.0)
    assert wait.waited_s == pytest.approx(clock.now()) and wait.waited_s >= 5.0
    assert wait.event_type == "provider.rate_limited"


async def test_pacing_is_told_only_past_the_threshold_and_5xx_backoff_is_not_a_rate_wait() -> None:
    clock, governor = loop_parts()
    waits: list[RateWait] = []
    create = Script(ProviderError("boom", retryable=True, status=503))
    await with_creation_retries(
        create, governor=governor, clock=clock, rng=random.Random(0), on_waited=waits.append
    )
    assert waits == []  # a 5xx is a provider.retrying matter, and the governor let it through
    slow = RateGovernor(60, window_s=60.0, clock=clock)  # a burst of 1, then one a second
    for _ in range(3):
        await with_creation_retries(
            Script(), governor=slow, clock=clock, rng=random.Random(0), on_waited=waits.append
        )
    assert [w.event_type for w in waits] == ["governor.waiting"] * 2
    assert all(w.rate_limited == 0 and w.waited_s >= WAIT_NOTICE_MIN_S for w in waits)


async def test_a_call_that_gives_up_or_is_cancelled_still_tells_its_wait() -> None:
    clock, governor = loop_parts()
    waits: list[RateWait] = []
    create = Script(*(RateLimited("slow", retry_after_s=1.0) for _ in range(3)))
    with pytest.raises(RateLimited):
        await with_creation_retries(
            create,
            governor=governor,
            clock=clock,
            rng=random.Random(0),
            max_tries=3,
            on_waited=waits.append,
        )
    assert [(w.tries, w.rate_limited) for w in waits] == [(3, 3)]

    class Stuck:
        async def __call__(self) -> str:
            raise RateLimited("slow", retry_after_s=300.0)

    real = RateGovernor(60_000)  # the real clock: the 300 s hint is cut short by the scope
    with anyio.move_on_after(0.05):
        await with_creation_retries(
            Stuck(), governor=real, clock=real.clock, rng=random.Random(0), on_waited=waits.append
        )
    assert waits[-1].rate_limited == 1 and 0.04 < waits[-1].waited_s < 1.0
