"""Prices per model: the built-in table, SWARM_PRICES (JSON or a file), a run's own prices, and
what happens to a model with no price."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.errors import ConfigError
from swarm.providers.pricing import UNKNOWN, check_priced, price_for, price_table, unpriced


def test_the_built_in_prices_under_both_names() -> None:
    table = price_table({})
    for name in ("kimi-k2.6", "moonshotai/kimi-k2.6"):
        price = price_for(table, name)
        assert (price.input_per_million, price.output_per_million) == (0.95, 4.00)
    assert price_for(table, "kimi-k2-thinking").output_per_million == 2.50
    assert price_for(table, "kimi-k2-turbo-preview").cost(1_000_000, 1_000_000) == 9.15


def test_an_unknown_model_has_no_price_not_k26s() -> None:
    table = price_table({})
    assert price_for(table, "gpt-fake") is UNKNOWN and not UNKNOWN.known
    assert UNKNOWN.cost(10_000, 10_000) == 0
    assert unpriced(table, ["kimi-k2.6", "b", "a", "b"]) == ["a", "b"]
    check_priced(table, ["gpt-fake"], None)  # no dollar budget: nothing to enforce
    with pytest.raises(ConfigError, match=r"cannot be enforced.*'gpt-fake'") as caught:
        check_priced(table, ["kimi-k2.6", "gpt-fake"], 5.0)
    assert "--price-in" in str(caught.value) and "max_tokens" in str(caught.value)


def test_prices_from_the_environment_a_file_and_the_run(tmp_path: Path) -> None:
    table = price_table({"SWARM_PRICES": '{"m": [1, 2]}'}, overrides={"n": (3.0, 4.0)})
    assert price_for(table, "m").cost(1_000_000, 0) == 1 and price_for(table, "n").known
    file = tmp_path / "prices.json"
    file.write_text('{"kimi-k2.6": [0.5, 1.5]}')
    assert price_for(price_table({"SWARM_PRICES": str(file)}), "kimi-k2.6").input_per_million == 0.5
    over = price_table({"SWARM_PRICES": str(file)}, overrides={"kimi-k2.6": (9.0, 9.0)})
    assert price_for(over, "kimi-k2.6").input_per_million == 9.0  # the run's own win


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{not json", "not a JSON object"),
        ('["a"]', "not a JSON object"),
        ('{"m": [1]}', "not two non-negative numbers"),
        ('{"m": [-1, 2]}', "not two non-negative numbers"),
        ('{"m": ["x", 2]}', "not two non-negative numbers"),
        ("/no/such/prices.json", "neither a JSON object nor a readable file"),
    ],
)
def test_bad_prices_are_config_errors(value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        price_table({"SWARM_PRICES": value})
