"""The swarm-wide step pool: allowances drawn before work, unused steps returned after."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.core.steps import StepPool


def test_a_draw_grants_what_is_wanted_while_it_lasts() -> None:
    pool = StepPool(10)
    assert pool.draw(4) == 4
    assert pool.draw(4) == 4
    assert pool.draw(4) == 2  # only two were left
    assert (pool.reserved, pool.spent, pool.available) == (10, 0, 0)
    pool.check()


def test_an_empty_pool_refuses_a_draw() -> None:
    pool = StepPool(3, spent=3)
    with pytest.raises(ValueError, match="step pool is empty"):
        pool.draw(1)
    assert pool.reserved == 0


def test_settle_charges_what_was_used_and_returns_the_rest() -> None:
    pool = StepPool(10)
    grant = pool.draw(6)
    pool.settle(grant, 2)
    assert (pool.reserved, pool.spent, pool.available) == (0, 2, 8)


def test_settle_never_charges_more_than_the_allowance_or_less_than_nothing() -> None:
    pool = StepPool(10)
    pool.settle(pool.draw(3), 50)
    assert pool.spent == 3
    pool.settle(pool.draw(3), -4)
    assert pool.spent == 3
    assert pool.reserved == 0
    pool.check()


def test_a_zero_allowance_settles_to_nothing() -> None:
    pool = StepPool(2, spent=2)
    pool.settle(0, 1)
    assert (pool.spent, pool.reserved) == (2, 0)


def test_check_catches_an_overdrawn_pool() -> None:
    with pytest.raises(AssertionError):
        StepPool(5, spent=4, reserved=2).check()
    with pytest.raises(AssertionError):
        StepPool(5, reserved=-1).check()


@settings(max_examples=100, deadline=None, database=None)
@given(
    total=st.integers(1, 50),
    ops=st.lists(st.tuples(st.booleans(), st.integers(1, 12), st.integers(-2, 15)), max_size=60),
)
def test_draws_and_settles_never_overdraw(total: int, ops: list[tuple[bool, int, int]]) -> None:
    pool = StepPool(total)
    held: list[int] = []
    for draw, wanted, used in ops:
        if draw and pool.available >= 1:
            grant = pool.draw(wanted)
            assert 1 <= grant <= wanted
            held.append(grant)
        elif held:
            pool.settle(held.pop(0), used)
        pool.check()
        assert pool.reserved == sum(held)
    for grant in held:
        pool.settle(grant, grant)
    assert pool.reserved == 0
    assert pool.spent <= total
