"""The swarm-wide step pool: tasks draw step allowances from it and return what they leave.

A step is one model call or one tool call. The pool makes "a run never exceeds its budget of
steps" a property of arithmetic rather than of every worker's good behaviour: allowances are
drawn before a task starts, so the sum of all allowances in flight plus the steps already spent
never passes the total.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StepPool:
    total: int
    spent: int = 0
    """Steps used by attempts that have finished (including those spent before a resume)."""
    reserved: int = 0
    """Allowances held by running attempts."""

    @property
    def available(self) -> int:
        return self.total - self.spent - self.reserved

    def draw(self, wanted: int) -> int:
        """Reserve up to ``wanted`` steps (at least one must be available); returns the grant."""
        grant = min(wanted, self.available)
        if grant < 1:
            raise ValueError("step pool is empty")
        self.reserved += grant
        return grant

    def settle(self, allowance: int, used: int) -> None:
        """Return an allowance, charging the steps actually used (never more than granted)."""
        self.reserved -= allowance
        self.spent += min(max(used, 0), allowance)

    def check(self) -> None:
        assert self.reserved >= 0 and self.spent >= 0, (self.reserved, self.spent)
        assert self.spent + self.reserved <= self.total, (self.spent, self.reserved, self.total)
