"""Retry timing: capped exponential backoff with full jitter, honouring a server's hint."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``delay(n)`` for the n-th retry is uniform in [0, min(cap, base * 2**(n-1))].

    Full jitter (rather than equal or no jitter) spreads a burst of failures from hundreds of
    workers over the whole window, so they do not come back in lockstep.
    """

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, retry_number: int, rng: random.Random, hint_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, retry_number - 1)))
        jittered = rng.uniform(0.0, ceiling)
        if hint_s is not None and hint_s > jittered:
            return hint_s  # the server knows when it will take us again: never retry sooner
        return jittered
