"""Retrying the creation of a remote call: which answers are transient, what the server's retry
hints mean, and the bounded loop that sends every try through the rate governor.

The ``replicate`` client never retries a POST, so a 429 on a prediction creation reaches us at
once; this loop is what turns a 429 storm into a slower run instead of failed tasks.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from swarm.core.clock import Clock
from swarm.core.retry import RetryPolicy
from swarm.errors import ProviderError, RateLimited
from swarm.providers.governor import RateGovernor

T = TypeVar("T")

CREATION_POLICY = RetryPolicy(base_s=0.5, cap_s=30.0)
MAX_CREATE_TRIES = 8
MAX_HINT_S = 300.0
"""A server hint longer than this is treated as this long (a bad header must not stall a run)."""

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_DETAIL_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)


def is_retryable_status(status: int) -> bool:
    """429, request timeouts and conflicts, and every 5xx are worth another try."""
    return status in _RETRYABLE_STATUS or 500 <= status < 600


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds, an HTTP-date or an ISO-8601 date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return _clamp(float(text))
    except ValueError:
        pass
    when: datetime | None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    if when.tzinfo is None:
        return None
    now = time.time() if now_epoch is None else now_epoch
    return _clamp(when.timestamp() - now)


def parse_ratelimit_reset(value: str | None, now_epoch: float | None = None) -> float | None:
    """``ratelimit-reset`` as seconds from now: delta-seconds, or an epoch time if it is one."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number > 1e9:  # an absolute Unix time rather than a delay
        now = time.time() if now_epoch is None else now_epoch
        number -= now
    return _clamp(number)


def parse_detail_hint(detail: str | None) -> float | None:
    """Replicate's 429 text says when to come back ("Expected available in 1 second",
    "resets in ~30s"); used when no header gives a hint."""
    if not detail:
        return None
    match = _DETAIL_SECONDS.search(detail)
    return _clamp(float(match.group(1))) if match else None


def retry_hint(headers: Mapping[str, str], detail: str | None = None) -> float | None:
    """The server's wish, in seconds: ``Retry-After``, else ``ratelimit-reset``, else the text."""
    for hint in (
        parse_retry_after(headers.get("retry-after")),
        parse_ratelimit_reset(headers.get("ratelimit-reset")),
        parse_detail_hint(detail),
    ):
        if hint is not None:
            return hint
    return None


def _clamp(seconds: float) -> float:
    return min(max(0.0, seconds), MAX_HINT_S)


async def with_creation_retries(
    create: Callable[[], Awaitable[T]],
    *,
    governor: RateGovernor,
    clock: Clock,
    rng: random.Random,
    policy: RetryPolicy = CREATION_POLICY,
    max_tries: int = MAX_CREATE_TRIES,
) -> tuple[T, int]:
    """Call ``create`` until it succeeds; return its result and the number of tries.

    Every try waits for the governor first. ``create`` raises :class:`ProviderError` on failure:
    a non-retryable one ends the loop at once; a 429 (:class:`RateLimited`) also pauses the
    whole swarm through the governor; others wait a capped, fully jittered backoff that is never
    shorter than the server's hint. After ``max_tries`` the last error is raised, still marked
    retryable, for the scheduler's own task retries.
    """
    for attempt in range(1, max_tries + 1):
        await governor.acquire()
        try:
            result = await create()
        except RateLimited as exc:
            governor.rate_limited(exc.retry_after_s)
            if attempt == max_tries:
                raise _exhausted(exc, max_tries) from None
            await clock.sleep(policy.delay(attempt, rng, exc.retry_after_s))
        except ProviderError as exc:
            if not exc.retryable:
                raise
            if attempt == max_tries:
                raise _exhausted(exc, max_tries) from None
            await clock.sleep(policy.delay(attempt, rng))
        else:
            governor.succeeded()
            return result, attempt
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _exhausted(exc: ProviderError, tries: int) -> ProviderError:
    message = f"{exc.message} (still failing after {tries} tries)"
    if isinstance(exc, RateLimited):
        return RateLimited(message, retry_after_s=exc.retry_after_s)
    return ProviderError(message, retryable=True, status=exc.status, hint=exc.hint)
