"""The one dollar formatter: a nonzero amount never reads as zero."""

from __future__ import annotations

import pytest

from swarm.core.budget import Budget
from swarm.core.money import usd
from swarm.errors import BudgetExhausted


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0.0, "$0.0000"),
        (0.001, "$0.0010"),
        (0.0031, "$0.0031"),
        (0.000012, "$0.000012"),
        (0.5, "$0.5000"),
        (1.0, "$1.00"),
        (1234.5, "$1,234.50"),
        (-0.001, "-$0.0010"),
    ],
)
def test_usd(amount: float, text: str) -> None:
    assert usd(amount) == text


@pytest.mark.parametrize("amount", [1e-9, 3e-7, 0.00004, 0.004, 0.04, 0.4])
def test_a_nonzero_amount_never_reads_as_zero(amount: float) -> None:
    digits = usd(amount).strip("$0.,")
    assert digits, usd(amount)


def test_a_tiny_budget_is_not_printed_as_zero_in_the_budget_error() -> None:
    budget = Budget(max_tokens=None, max_cost_usd=0.001)
    shortfall = budget.shortfall(10, 0.002)
    assert shortfall is not None
    message = BudgetExhausted(shortfall).message
    assert "is left of $0.0010" in message
    assert "$0.00 " not in message
