"""Retry timing: capped exponential backoff with full jitter, and a server's hint honoured."""

from __future__ import annotations

import random

import pytest

from swarm.core.retry import RetryPolicy


@pytest.mark.parametrize("retry_number", [1, 2, 3, 4, 5, 6, 10, 40])
def test_delay_is_within_the_capped_exponential_window(retry_number: int) -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=30.0)
    ceiling = min(30.0, 0.5 * 2 ** (retry_number - 1))
    rng = random.Random(retry_number)
    delays = [policy.delay(retry_number, rng) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in delays)
    assert max(delays) <= policy.cap_s


def test_the_first_retry_window_is_the_base() -> None:
    policy = RetryPolicy(base_s=2.0, cap_s=100.0)
    rng = random.Random(1)
    assert max(policy.delay(1, rng) for _ in range(200)) <= 2.0
    assert max(policy.delay(0, rng) for _ in range(200)) <= 2.0


def test_full_jitter_spreads_over_the_whole_window() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=8.0)
    rng = random.Random(7)
    delays = [policy.delay(10, rng) for _ in range(2000)]
    assert min(delays) < 0.1 * 8.0
    assert max(delays) > 0.9 * 8.0
    assert 3.0 < sum(delays) / len(delays) < 5.0  # uniform on [0, 8] has mean 4


def test_delays_are_reproducible_from_the_seed() -> None:
    policy = RetryPolicy()
    a = [policy.delay(n, random.Random(3)) for n in range(1, 8)]
    b = [policy.delay(n, random.Random(3)) for n in range(1, 8)]
    assert a == b


def test_a_server_hint_longer_than_the_jitter_is_honoured() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=30.0)
    rng = random.Random(0)
    assert policy.delay(1, rng, hint_s=5.0) == 5.0
    # Honoured even beyond the cap: the server knows when it will take calls again.
    assert policy.delay(1, rng, hint_s=120.0) == 120.0


def test_a_short_hint_does_not_shorten_the_backoff() -> None:
    policy = RetryPolicy(base_s=10.0, cap_s=10.0)
    for seed in range(50):
        plain = policy.delay(1, random.Random(seed))
        hinted = policy.delay(1, random.Random(seed), hint_s=0.001)
        assert hinted == max(plain, 0.001)
