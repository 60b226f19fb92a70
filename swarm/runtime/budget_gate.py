"""The run's one limiter on its token and dollar budgets: model calls wait, first come first
served, for the reservations in flight to settle instead of failing when they do not fit.

A call that does not fit beside the reservations held waits on its own event until a
settlement makes room; one that would not fit even with nothing held (what is spent leaves too
little) raises :class:`~swarm.errors.BudgetExhausted` at once, and the run pauses. So the
outcome of a run does not depend on how many calls are in flight together: concurrency changes
when a call runs, not whether. Waiters are served strictly in arrival order, so a large call is
never starved by a stream of small ones.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio

from swarm.core.budget import Budget, Reservation, Shortfall
from swarm.core.tokens import TokenEstimator
from swarm.errors import BudgetExhausted


@dataclass(slots=True)
class _Waiter:
    tokens: int
    cost_usd: float
    ready: anyio.Event = field(default_factory=anyio.Event)
    granted: Reservation | None = None
    refused: Shortfall | None = None


class BudgetGate:
    """Reservations against one :class:`Budget`, waiting for room when there is none now."""

    def __init__(self, budget: Budget, lease: Callable[[], Awaitable[None]] | None = None) -> None:
        self.budget = budget
        self._lease = lease
        """Awaited before every reservation: the driver still owns the run (see
        :meth:`swarm.store.writer.Writer.owned_recently`)."""
        self.estimator = TokenEstimator()
        """The run's input-token estimate, learned from the provider's counts."""
        self._waiters: deque[_Waiter] = deque()
        self.exhausted: Shortfall | None = None
        """The first shortfall met: why the run pauses (None while the budget holds)."""

    @property
    def waiting(self) -> int:
        """Calls waiting for room."""
        return len(self._waiters)

    async def reserve(self, tokens: int, cost_usd: float) -> Reservation:
        """Hold a call's worst case, waiting for room if needed; :class:`BudgetExhausted` if the
        call cannot fit even once everything in flight has settled."""
        if self._lease is not None:
            await self._lease()
        shortfall = self.budget.shortfall(tokens, cost_usd)
        if shortfall is not None:
            raise self._refuse(shortfall)
        if not self._waiters:
            reservation = self.budget.try_reserve(tokens, cost_usd)
            if reservation is not None:
                return reservation
        waiter = _Waiter(tokens, cost_usd)
        self._waiters.append(waiter)
        try:
            await waiter.ready.wait()
        except anyio.get_cancelled_exc_class():
            if waiter.granted is not None:  # granted while being cancelled: give it back
                self.settle(waiter.granted, 0, 0.0)
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
                self._grant()  # the head may have been this one, blocking the rest
            raise
        if waiter.refused is not None:
            raise self._refuse(waiter.refused)
        assert waiter.granted is not None
        return waiter.granted

    def settle(self, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        """Release a reservation, charge what the call used, and wake the calls that now fit."""
        self.budget.settle(reservation, tokens, cost_usd)
        self._grant()

    def set_limits(self, max_tokens: int | None, max_cost_usd: float | None) -> None:
        """Change the limits (a resume with new ones) and serve whoever now fits."""
        self.budget.max_tokens = max_tokens
        self.budget.max_cost_usd = max_cost_usd
        self.exhausted = None
        self._grant()

    def _grant(self) -> None:
        budget = self.budget
        while self._waiters:
            head = self._waiters[0]
            shortfall = budget.shortfall(head.tokens, head.cost_usd)
            if shortfall is not None:
                head.refused = shortfall
            else:
                head.granted = budget.try_reserve(head.tokens, head.cost_usd)
                if head.granted is None:
                    return  # the head waits for more room; everyone behind it too
            self._waiters.popleft()
            head.ready.set()

    def _refuse(self, shortfall: Shortfall) -> BudgetExhausted:
        if self.exhausted is None:
            self.exhausted = shortfall
        return BudgetExhausted(shortfall)


@contextmanager
def deadline_held(scope: anyio.CancelScope) -> Iterator[None]:
    """Stop ``scope``'s deadline while inside, then move it on by the time spent inside: an
    attempt's timeout does not count the time its call waited at the gate."""
    deadline = scope.deadline
    if math.isinf(deadline):
        yield
        return
    scope.deadline = math.inf
    entered = anyio.current_time()
    try:
        yield
    finally:
        scope.deadline = deadline + (anyio.current_time() - entered)
