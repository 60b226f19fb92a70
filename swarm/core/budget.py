"""Token and dollar budgets reserved before each model call, so concurrent workers cannot
overshoot together: a call reserves its worst case, and settles to its actual usage after."""

from __future__ import annotations

from dataclasses import dataclass

from swarm.core.money import usd
from swarm.errors import BudgetExceeded


@dataclass(frozen=True, slots=True)
class Reservation:
    tokens: int
    cost_usd: float


@dataclass(slots=True)
class Budget:
    """Run-wide limits; ``None`` means unlimited. Spent figures survive a resume."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    spent_tokens: int = 0
    spent_cost_usd: float = 0.0
    held_tokens: int = 0
    held_cost_usd: float = 0.0

    def reserve(self, tokens: int, cost_usd: float) -> Reservation:
        """Hold a call's worst case or refuse it with a :class:`BudgetExceeded`."""
        if self.max_tokens is not None:
            left = self.max_tokens - self.spent_tokens - self.held_tokens
            if tokens > left:
                raise BudgetExceeded(
                    f"token budget: this call may use {tokens} tokens, {max(left, 0)} are left "
                    f"of {self.max_tokens}",
                    hint="raise budget.max_tokens (or --max-tokens), or lower max_tokens per call",
                )
        if self.max_cost_usd is not None:
            left_usd = self.max_cost_usd - self.spent_cost_usd - self.held_cost_usd
            if cost_usd > left_usd + 1e-12:
                raise BudgetExceeded(
                    f"cost budget: this call may cost {usd(cost_usd)}, {usd(max(left_usd, 0))} "
                    f"is left of {usd(self.max_cost_usd)}",
                    hint="raise budget.max_cost_usd (or --max-cost), or lower max_tokens per call",
                )
        self.held_tokens += tokens
        self.held_cost_usd += cost_usd
        return Reservation(tokens, cost_usd)

    def settle(self, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        """Release a reservation and charge what the call really used."""
        self.held_tokens -= reservation.tokens
        self.held_cost_usd -= reservation.cost_usd
        self.spent_tokens += tokens
        self.spent_cost_usd += cost_usd
