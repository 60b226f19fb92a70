"""Injected time: the scheduler and its policies read a Clock instead of the wall."""

from __future__ import annotations

import time
from typing import Protocol

import anyio


class Clock(Protocol):
    """Monotonic seconds and a way to wait; tests pass a fake that jumps instead of sleeping."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class FakeClock:
    """A clock that advances only when told to, or when something sleeps on it.

    ``sleep`` moves time forward at once (after a checkpoint), so code that waits for backoff
    or rate-limit windows runs in near-zero real time while seeing the waits it asked for.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds > 0:
            self._now += seconds
        await anyio.lowlevel.checkpoint()
