"""Token and dollar budgets: reserve the worst case before a call, settle to what it used."""

from __future__ import annotations

import pytest

from swarm.core.budget import Budget, Reservation
from swarm.errors import BudgetExceeded, TaskError


def test_an_unlimited_budget_refuses_nothing() -> None:
    budget = Budget()
    r = budget.reserve(10**9, 10**6)
    assert r == Reservation(10**9, 10**6)
    budget.settle(r, 5, 0.01)
    assert (budget.spent_tokens, budget.spent_cost_usd) == (5, 0.01)


def test_reservations_hold_the_worst_case_until_settled() -> None:
    budget = Budget(max_tokens=1000)
    first = budget.reserve(600, 0.0)
    assert budget.held_tokens == 600
    with pytest.raises(BudgetExceeded):
        budget.reserve(500, 0.0)  # 600 held + 500 > 1000, though nothing is spent yet
    budget.settle(first, 200, 0.0)
    assert (budget.held_tokens, budget.spent_tokens) == (0, 200)
    budget.reserve(800, 0.0)  # exactly what is left


def test_a_token_overshoot_is_refused_without_side_effects() -> None:
    budget = Budget(max_tokens=100, spent_tokens=90)
    with pytest.raises(BudgetExceeded) as exc:
        budget.reserve(11, 0.0)
    error = exc.value
    assert isinstance(error, TaskError) and not error.retryable
    assert "may use 11 tokens, 10 are left of 100" in error.message
    assert error.hint is not None and "max_tokens" in error.hint
    assert (budget.held_tokens, budget.spent_tokens) == (0, 90)


def test_a_cost_overshoot_is_refused_without_side_effects() -> None:
    budget = Budget(max_cost_usd=1.0, spent_cost_usd=0.75)
    budget.reserve(0, 0.25)  # exactly what is left
    with pytest.raises(BudgetExceeded) as exc:
        budget.reserve(0, 0.01)
    assert "cost budget" in exc.value.message
    assert "$0.0000 is left of $1.00" in exc.value.message
    assert exc.value.hint is not None and "max_cost_usd" in exc.value.hint
    assert budget.held_cost_usd == 0.25


def test_both_limits_apply() -> None:
    budget = Budget(max_tokens=100, max_cost_usd=1.0)
    with pytest.raises(BudgetExceeded, match="token budget"):
        budget.reserve(101, 0.0)
    with pytest.raises(BudgetExceeded, match="cost budget"):
        budget.reserve(1, 1.5)
    assert (budget.held_tokens, budget.held_cost_usd) == (0, 0.0)


def test_spent_figures_survive_a_resume() -> None:
    budget = Budget(max_tokens=100, spent_tokens=100)
    with pytest.raises(BudgetExceeded, match="0 are left"):
        budget.reserve(1, 0.0)
