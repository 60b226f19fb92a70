"""The rate governor: one per provider, shared by every worker of a run, so that a swarm of
hundreds of workers creates predictions at a steady, bounded rate and a 429 slows all of them.

Two parts, both pure bookkeeping over an injected :class:`~swarm.core.clock.Clock`:

- a **token bucket** for creations. It holds ``burst`` tokens (1/60 of the limit: one second's
  worth at a per-minute limit) and refills so that no span of ``window_s + slack_s`` seconds
  ever grants more than ``limit`` creations. The slack covers the time between a grant and the
  request reaching the server (a late timer, a busy event loop, the network): a creation
  delayed by up to ``slack_s`` still lands in a window of ``window_s`` that holds at most
  ``limit``. At the defaults (600 a minute, one second of slack) that is a burst of 10 and a
  steady 580 a minute. Callers *reserve* a token and sleep until it is theirs, which serves them
  in arrival order instead of waking all of them to race;
- a **shared cooldown**. When any worker sees a 429 every worker pauses: for the server's hint
  (``Retry-After``) if it gave one, else for a pause that doubles with each storm (1 s, 2 s,
  4 s … 30 s) and resets after a success. The bucket is emptied, so the swarm resumes at the
  steady rate rather than with a burst.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm.core.clock import Clock, SystemClock

DEFAULT_PER_MINUTE = 600
"""Replicate's documented limit for prediction creations."""


@dataclass(slots=True)
class TokenBucket:
    """A reservation bucket: ``reserve(now)`` takes a token and says how long until it is due.

    ``tokens`` may go negative: that is the queue of reservations already handed out.
    """

    capacity: float
    refill_per_s: float
    tokens: float
    updated: float

    def reserve(self, now: float) -> float:
        """Take the next token; return the seconds to wait until it may be used (0 if now)."""
        self._refill(now)
        self.tokens -= 1.0
        start = max(now, self.updated)  # after a drain, refilling resumes only at ``updated``
        debt = max(0.0, -self.tokens)
        return start - now + debt / self.refill_per_s

    def drain(self, resume_at: float) -> None:
        """Hold every token back until ``resume_at``, and start refilling from empty then."""
        self._refill(resume_at)
        self.tokens = min(self.tokens, 0.0)
        self.updated = max(self.updated, resume_at)

    def _refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_s)
            self.updated = now


def bucket_for(limit: int, span_s: float, now: float) -> TokenBucket:
    """A full bucket that grants at most ``limit`` creations in any ``span_s`` seconds.

    A bucket of ``burst`` tokens refilling at ``r`` grants at most ``burst + floor(r * span)``
    in any span, so ``r = (limit - burst) / span`` meets the limit exactly.
    """
    if limit < 1 or span_s <= 0:
        raise ValueError(f"a rate limit needs limit >= 1 and a span > 0, not {limit}/{span_s}")
    burst = max(1, limit // 60)
    refill = (limit - burst) / span_s if limit > burst else 0.999 / span_s
    return TokenBucket(capacity=float(burst), refill_per_s=refill, tokens=float(burst), updated=now)


@dataclass(slots=True)
class Cooldown:
    """The shared pause after a 429; ``until`` is the clock time creations may resume."""

    base_s: float = 1.0
    cap_s: float = 30.0
    until: float = 0.0
    streak: int = 0
    """429s without a hint since the last success; each one doubles the next pause."""

    def hit(self, now: float, hint_s: float | None) -> float:
        """Register a 429 seen at ``now``; return the clock time creations may resume."""
        if hint_s is not None:
            self.until = max(self.until, now + max(0.0, hint_s))
        elif now >= self.until:
            # A 429 inside a running pause came from a request sent before the pause: it says
            # nothing new, so only 429s after a pause has ended lengthen the next one.
            self.streak += 1
            self.until = now + min(self.cap_s, self.base_s * 2 ** (self.streak - 1))
        return self.until

    def clear(self) -> None:
        self.streak = 0


@dataclass
class GovernorStats:
    granted: int = 0
    """Creations let through."""
    rate_limited: int = 0
    """429 answers reported."""
    waited_s: float = 0.0
    """Clock seconds spent waiting, summed over callers."""


@dataclass
class RateGovernor:
    """Paces prediction creations for every worker of a run; see the module docstring."""

    limit: int = DEFAULT_PER_MINUTE
    """Creations allowed in any window of ``window_s`` seconds, as the server counts them."""
    window_s: float = 60.0
    slack_s: float = 1.0
    """How late a granted creation may reach the server and still be counted in bounds."""
    clock: Clock = field(default_factory=SystemClock)
    cooldown: Cooldown = field(default_factory=Cooldown)
    stats: GovernorStats = field(default_factory=GovernorStats)
    bucket: TokenBucket = field(init=False)
    waiting: int = field(default=0, init=False)
    """Callers blocked in :meth:`acquire` now (the live display shows them)."""

    def __post_init__(self) -> None:
        self.bucket = bucket_for(self.limit, self.window_s + self.slack_s, self.clock.now())

    async def acquire(self) -> None:
        """Wait until one creation may be sent: after any cooldown, and for a bucket token."""
        start = self.clock.now()
        self.waiting += 1
        try:
            while True:
                now = self.clock.now()
                if now < self.cooldown.until:
                    await self.clock.sleep(self.cooldown.until - now)
                    continue
                wait = self.bucket.reserve(now)
                if wait > 0:
                    await self.clock.sleep(wait)
                if self.clock.now() >= self.cooldown.until:
                    break
                # A 429 arrived while this caller waited: its slot is forfeit; queue again after.
        finally:
            self.waiting -= 1
        self.stats.granted += 1
        self.stats.waited_s += self.clock.now() - start

    def rate_limited(self, hint_s: float | None) -> float:
        """A worker saw a 429: pause every creation; returns the seconds until they resume."""
        now = self.clock.now()
        self.stats.rate_limited += 1
        until = self.cooldown.hit(now, hint_s)
        self.bucket.drain(until)
        return until - now

    def succeeded(self) -> None:
        """A creation went through: the next 429 without a hint starts a fresh, short pause."""
        self.cooldown.clear()

    def max_in_window(self, seconds: float) -> int:
        """The most creations this governor grants in any window of ``seconds``."""
        return int(self.bucket.capacity + self.bucket.refill_per_s * seconds + 1e-9)
