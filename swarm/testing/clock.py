"""Accelerated time for tests that wait for minutes: a clock that runs a fixed number of times
faster than the wall, shared by the code under test and a fake server's threads.

A :class:`~swarm.core.clock.FakeClock` jumps when something sleeps on it, which suits one
coroutine's backoff but not a fake server whose threads wait in real time, nor hundreds of
sleepers at once (each sleep would move time for everyone). A scaled clock keeps one timeline
for all of them: an outage of three minutes at ``speed=100`` lasts 1.8 wall seconds, and the
provider's backoff, the rate governor and the fake's schedule all see three minutes.
"""

from __future__ import annotations

import time

import anyio


class ScaledClock:
    """:class:`~swarm.core.clock.Clock` whose seconds last ``1 / speed`` wall seconds.

    Anything timed on the wall (socket timeouts, the client's own retries of GETs, task
    timeouts) looks ``speed`` times longer on this clock; tests read their figures with that in
    mind.
    """

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"a clock's speed must be positive, not {speed}")
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds) / self.speed)

    def wall(self, seconds: float) -> float:
        """Wall seconds that ``seconds`` of this clock take."""
        return seconds / self.speed
