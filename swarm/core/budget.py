"""Token and dollar budgets reserved before each model call, so concurrent workers cannot
overshoot together: a call reserves its worst case, and settles to its actual usage after.

The accounting only; waiting for room is the runtime's (:mod:`swarm.runtime.budget_gate`). A
call that does not fit *now* (what is spent plus what is held leaves too little) waits for the
calls in flight to settle; a call that would not fit even with nothing in flight (what is spent
alone leaves too little) can never run, and is a :class:`Shortfall`: the run pauses for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from swarm.core.money import usd

COST_EPSILON = 1e-12
"""Float slack when comparing dollars, so a call costing exactly what is left fits."""


@dataclass(frozen=True, slots=True)
class Reservation:
    tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A limit that cannot cover the next piece of work, even with nothing else in flight: why
    a run pauses (``resource`` is ``steps``, ``tokens`` or ``cost_usd``)."""

    resource: str
    needed: float
    """What the work that could not start needs."""
    left: float
    """What the limit has left, with nothing held."""
    limit: float

    @property
    def flag(self) -> str:
        return {"steps": "--max-steps", "tokens": "--max-tokens", "cost_usd": "--max-cost"}[
            self.resource
        ]

    def suggested_limit(self) -> int | float:
        """The smallest limit that lets the work that could not start run (dollars rounded up
        to the cent)."""
        raised = self.limit + max(self.needed - self.left, 0)
        if self.resource == "cost_usd":
            return math.ceil(raised * 100 - 1e-9) / 100
        return math.ceil(raised)

    def describe(self) -> str:
        if self.resource == "cost_usd":
            return (
                f"the cost budget: the next call may cost {usd(self.needed)}, "
                f"{usd(max(self.left, 0))} is left of {usd(self.limit)}"
            )
        noun = "steps" if self.resource == "steps" else "tokens"
        what = "the next task wants" if self.resource == "steps" else "the next call may use"
        return (
            f"the {noun[:-1]} budget: {what} {int(self.needed)} {noun}, "
            f"{max(int(self.left), 0)} are left of {int(self.limit)}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "resource": self.resource,
            "needed": self.needed,
            "left": self.left,
            "limit": self.limit,
            "flag": self.flag,
            "suggested": self.suggested_limit(),
        }


@dataclass(slots=True)
class Budget:
    """Run-wide limits; ``None`` means unlimited. Spent figures survive a resume."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    spent_tokens: int = 0
    spent_cost_usd: float = 0.0
    held_tokens: int = 0
    held_cost_usd: float = 0.0
    held_calls: int = 0
    """How many reservations are held; the float dust of ``held_cost_usd`` is cleared only
    when none is (a call may reserve cost and no tokens)."""

    def shortfall(self, tokens: int, cost_usd: float) -> Shortfall | None:
        """Why a call of this size can never run (what is spent leaves too little), or None."""
        if self.max_tokens is not None and self.spent_tokens + tokens > self.max_tokens:
            return Shortfall("tokens", tokens, self.max_tokens - self.spent_tokens, self.max_tokens)
        if (
            self.max_cost_usd is not None
            and self.spent_cost_usd + cost_usd > self.max_cost_usd + COST_EPSILON
        ):
            left = self.max_cost_usd - self.spent_cost_usd
            return Shortfall("cost_usd", cost_usd, left, self.max_cost_usd)
        return None

    def fits(self, tokens: int, cost_usd: float) -> bool:
        """Whether a call of this size fits beside the reservations now held."""
        if (
            self.max_tokens is not None
            and self.spent_tokens + self.held_tokens + tokens > self.max_tokens
        ):
            return False
        used_usd = self.spent_cost_usd + self.held_cost_usd
        return self.max_cost_usd is None or used_usd + cost_usd <= self.max_cost_usd + COST_EPSILON

    def try_reserve(self, tokens: int, cost_usd: float) -> Reservation | None:
        """Hold a call's worst case if it fits now; None (and nothing held) if it does not."""
        if not self.fits(tokens, cost_usd):
            return None
        self.held_tokens += tokens
        self.held_cost_usd += cost_usd
        self.held_calls += 1
        return Reservation(tokens, cost_usd)

    def settle(self, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        """Release a reservation and charge what the call really used."""
        self.held_tokens -= reservation.tokens
        self.held_cost_usd -= reservation.cost_usd
        self.held_calls -= 1
        if self.held_calls == 0:
            self.held_cost_usd = 0.0  # no float dust left behind once nothing is held
        self.spent_tokens += tokens
        self.spent_cost_usd += cost_usd
