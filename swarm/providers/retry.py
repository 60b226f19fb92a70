"""Retrying the creation of a remote call: which answers are transient, what the server's retry
hints mean, how long a call keeps trying, and the loop that sends every try through the rate
governor.

The ``replicate`` client never retries a POST, so a 429 on a prediction creation reaches us at
once; this loop is what turns a 429 storm into a slower run instead of failed tasks. A call
that keeps failing transiently is given up only after ``max_tries`` tries *and* once it has
been failing for ``max_outage_s`` (:class:`Patience`): a provider that is down for a few
minutes makes the run wait, with capped, jittered backoff, rather than fail its tasks.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from swarm.core.clock import Clock
from swarm.core.retry import RetryPolicy
from swarm.errors import ConfigError, ProviderError, RateLimited
from swarm.providers.base import RateWait, RetryNotice
from swarm.providers.governor import RateGovernor

T = TypeVar("T")

CREATION_POLICY = RetryPolicy(base_s=0.5, cap_s=30.0)
MAX_CREATE_TRIES = 8
DEFAULT_MAX_OUTAGE_S = 300.0
"""How long one call keeps retrying a provider that fails transiently (5xx, resets, 429s):
five minutes, well inside the default task timeout of ten. ``SWARM_MAX_OUTAGE_S`` changes it."""
MAX_OUTAGE_ENV = "SWARM_MAX_OUTAGE_S"
WAIT_NOTICE_MIN_S = 1.0
"""A call's creation that waited this long on the governor's pacing alone is told to
``on_waited``; one that met a 429 is told whatever it waited."""
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


@dataclass(frozen=True, slots=True)
class Patience:
    """When to give up on a call that keeps failing transiently: after ``max_tries`` tries and
    once it has been failing for ``max_outage_s`` seconds, whichever comes later. Between tries
    it waits ``policy``'s capped exponential backoff with full jitter."""

    policy: RetryPolicy = CREATION_POLICY
    max_tries: int = MAX_CREATE_TRIES
    max_outage_s: float = 0.0


class FailureStreak:
    """One call's transient failures in a row, timed on ``clock``; see :class:`Patience`."""

    def __init__(self, patience: Patience, clock: Clock, rng: random.Random) -> None:
        self.patience = patience
        self.clock = clock
        self.rng = rng
        self.tries = 0
        self.since: float | None = None

    def failed(self, exc: ProviderError, hint_s: float | None = None) -> float:
        """Count a retryable failure; return the seconds to wait before trying again, never
        shorter than the server's hint. Raises the error, still retryable and saying how long
        it has been failing, once patience runs out."""
        now = self.clock.now()
        self.since = now if self.since is None else self.since
        self.tries += 1
        failing_s = now - self.since
        patience = self.patience
        if self.tries >= patience.max_tries and failing_s >= patience.max_outage_s:
            over = failing_s if patience.max_outage_s > 0 else None
            raise _exhausted(exc, self.tries, over) from None
        return patience.policy.delay(self.tries, self.rng, hint_s)

    def notice(self, exc: ProviderError, where: str, retry_in_s: float) -> RetryNotice:
        """What this streak looks like now, for the run's events and the live display."""
        failing_s = 0.0 if self.since is None else self.clock.now() - self.since
        patience = self.patience
        left_s = max(0.0, patience.max_outage_s - failing_s)
        if self.tries < patience.max_tries:  # the tries still owed take at least their waits
            left_s = max(left_s, retry_in_s)
        return RetryNotice(where, exc.message, self.tries, failing_s, retry_in_s, left_s)


async def with_creation_retries(
    create: Callable[[], Awaitable[T]],
    *,
    governor: RateGovernor,
    clock: Clock,
    rng: random.Random,
    policy: RetryPolicy = CREATION_POLICY,
    max_tries: int = MAX_CREATE_TRIES,
    max_outage_s: float = 0.0,
    where: str = "",
    on_retry: Callable[[RetryNotice], None] | None = None,
    on_waited: Callable[[RateWait], None] | None = None,
) -> tuple[T, int]:
    """Call ``create`` until it succeeds; return its result and the number of tries.

    Every try waits for the governor first. ``create`` raises :class:`ProviderError` on failure:
    a non-retryable one ends the loop at once; a 429 (:class:`RateLimited`) also pauses the
    whole swarm through the governor; others wait a capped, fully jittered backoff that is never
    shorter than the server's hint. Once :class:`Patience` (``max_tries``, ``max_outage_s``)
    runs out, the last error is raised, still marked retryable, for the scheduler's own task
    retries. Before each wait after a failure other than a 429, ``on_retry`` hears what is
    failing at ``where`` and for how long the loop will keep trying. When the loop ends (even by
    an error or a cancellation), ``on_waited`` hears once how long it waited on rate limits, if
    it met a 429 or waited at least :data:`WAIT_NOTICE_MIN_S`.
    """
    streak = FailureStreak(Patience(policy, max_tries, max_outage_s), clock, rng)
    waits = _Waits()
    try:
        while True:
            await waits.pace(governor, clock)
            waits.tries += 1
            try:
                result = await create()
            except RateLimited as exc:
                waits.limited(exc)
                governor.rate_limited(exc.retry_after_s)
                await waits.sleep(clock, streak.failed(exc, exc.retry_after_s))
            except ProviderError as exc:
                if not exc.retryable:
                    raise
                delay = streak.failed(exc)
                if on_retry is not None:
                    on_retry(streak.notice(exc, where, delay))
                await clock.sleep(delay)
            else:
                governor.succeeded()
                return result, streak.tries + 1
    finally:
        if on_waited is not None and waits.worth_telling():
            on_waited(waits.value())


@dataclass(slots=True)
class _Waits:
    """One call's waits on rate limits so far (see :class:`~swarm.providers.base.RateWait`)."""

    tries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    status: int | None = None
    retry_after_s: float | None = None

    def limited(self, exc: RateLimited) -> None:
        self.rate_limited += 1
        self.status = exc.status or 429
        if exc.retry_after_s is not None:
            self.retry_after_s = exc.retry_after_s

    async def pace(self, governor: RateGovernor, clock: Clock) -> None:
        """Wait for the governor, counting the time waited even if the wait is cancelled."""
        start = clock.now()
        try:
            await governor.acquire()
        finally:
            self.waited_s += clock.now() - start

    async def sleep(self, clock: Clock, seconds: float) -> None:
        """Back off after a 429, counting the time slept even if the sleep is cancelled."""
        start = clock.now()
        try:
            await clock.sleep(seconds)
        finally:
            self.waited_s += clock.now() - start

    def worth_telling(self) -> bool:
        return self.rate_limited > 0 or self.waited_s >= WAIT_NOTICE_MIN_S

    def value(self) -> RateWait:
        return RateWait(
            self.tries, self.rate_limited, self.waited_s, self.status, self.retry_after_s
        )


def max_outage_from_env(env: Mapping[str, str]) -> float:
    """``SWARM_MAX_OUTAGE_S`` in seconds (0 or more), or the default."""
    text = env.get(MAX_OUTAGE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_OUTAGE_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigError(
            f"{MAX_OUTAGE_ENV}={text!r}: not a number of seconds",
            hint=f"set it to how long a call may wait for a provider that is down, e.g. "
            f"{DEFAULT_MAX_OUTAGE_S:g}",
        )
    return seconds


def _exhausted(exc: ProviderError, tries: int, failing_s: float | None) -> ProviderError:
    over = "" if failing_s is None else f" over {failing_s:.0f}s"
    message = f"{exc.message} (still failing after {tries} tries{over})"
    if isinstance(exc, RateLimited):
        return RateLimited(message, retry_after_s=exc.retry_after_s)
    hint = exc.hint
    if failing_s is not None:
        hint = (
            "the provider seems down or unreachable; check its status page, then resume the "
            f"run (`swarm resume RUN_ID`); {MAX_OUTAGE_ENV} sets how long a call waits"
        )
    return ProviderError(message, retryable=True, status=exc.status, hint=hint)
