"""Token and dollar budgets: reserve the worst case before a call, settle to what it used; a call
that does not fit now is told apart from one that can never fit (a shortfall: the run pauses)."""

from __future__ import annotations

import pytest

from swarm.core.budget import Budget, Reservation, Shortfall
from swarm.errors import BudgetExceeded, BudgetExhausted, TaskError


def test_an_unlimited_budget_refuses_nothing() -> None:
    budget = Budget()
    r = budget.try_reserve(10**9, 10**6)
    assert r == Reservation(10**9, 10**6)
    assert budget.shortfall(10**12, 10**9) is None
    budget.settle(r, 5, 0.01)
    assert (budget.spent_tokens, budget.spent_cost_usd) == (5, 0.01)


def test_reservations_hold_the_worst_case_until_settled() -> None:
    budget = Budget(max_tokens=1000)
    first = budget.try_reserve(600, 0.0)
    assert first is not None and budget.held_tokens == 600
    # 600 held + 500 > 1000, though nothing is spent: it does not fit now, but it is no
    # shortfall, since the call fits once the one in flight has settled.
    assert budget.try_reserve(500, 0.0) is None
    assert budget.shortfall(500, 0.0) is None
    assert budget.held_tokens == 600
    budget.settle(first, 200, 0.0)
    assert (budget.held_tokens, budget.spent_tokens) == (0, 200)
    assert budget.try_reserve(800, 0.0) is not None  # exactly what is left


def test_a_token_shortfall_counts_what_is_spent_not_what_is_held() -> None:
    budget = Budget(max_tokens=100, spent_tokens=90)
    assert budget.shortfall(10, 0.0) is None
    short = budget.shortfall(11, 0.0)
    assert short == Shortfall("tokens", 11, 10, 100)
    assert budget.try_reserve(11, 0.0) is None
    assert (budget.held_tokens, budget.spent_tokens) == (0, 90)
    assert short.flag == "--max-tokens" and short.suggested_limit() == 101


def test_a_cost_shortfall() -> None:
    budget = Budget(max_cost_usd=1.0, spent_cost_usd=0.75)
    assert budget.try_reserve(0, 0.25) is not None  # exactly what is left
    assert budget.try_reserve(0, 0.01) is None
    short = budget.shortfall(0, 0.30)
    assert short is not None and short.resource == "cost_usd"
    assert short.flag == "--max-cost" and short.suggested_limit() == pytest.approx(1.05)
    assert "$0.2500 is left of $1.00" in short.describe()


def test_both_limits_apply() -> None:
    budget = Budget(max_tokens=100, max_cost_usd=1.0)
    assert budget.try_reserve(101, 0.0) is None
    assert budget.try_reserve(1, 1.5) is None
    assert (budget.held_tokens, budget.held_cost_usd) == (0, 0.0)
    assert budget.shortfall(101, 0.0) == Shortfall("tokens", 101, 100, 100)
    assert budget.shortfall(1, 1.5) == Shortfall("cost_usd", 1.5, 1.0, 1.0)


def test_spent_figures_survive_a_resume() -> None:
    budget = Budget(max_tokens=100, spent_tokens=100)
    assert budget.shortfall(1, 0.0) == Shortfall("tokens", 1, 0, 100)


def test_the_pause_error_names_the_limit_and_the_flag_to_raise() -> None:
    error = BudgetExhausted(Shortfall("tokens", 2100, 900, 20_000))
    assert isinstance(error, BudgetExceeded) and isinstance(error, TaskError)
    assert not error.retryable
    assert "may use 2100 tokens, 900 are left of 20000" in error.message
    assert error.hint == "resume with --max-tokens 21200 or more"
    steps = Shortfall("steps", 8, 3, 4000)
    assert "the next task wants 8 steps, 3 are left of 4000" in steps.describe()
    assert steps.as_dict()["suggested"] == 4005
