"""Per-model prices, used to estimate a run's cost and to enforce its dollar budget.

Built-in list prices (US$ per million tokens, input on a cache miss / output), Moonshot's
platform prices:

- ``kimi-k2.6`` (K2.6): 0.95 / 4.00, as also listed by Cloudflare Workers AI for
  ``@cf/moonshotai/kimi-k2.6``;
- ``kimi-k2-thinking``: 0.60 / 2.50;
- ``kimi-k2-turbo-preview``: 1.15 / 8.00.

Each is known under its Moonshot name and its Replicate name (``moonshotai/…``). Replicate
bills some official models by time rather than tokens, so treat cost figures as estimates.

Other prices are given by the user, and override the table: ``SWARM_PRICES`` (a JSON object
``{"model": [input_per_million, output_per_million]}``, or the path of a file holding one),
the CLI's ``--price-in/--price-out`` (for the run's default model), or the API's ``prices=``.

A model with no price is **not** priced like K2.6: its calls count as $0 in ``est. cost``
(the summary lists it in ``unpriced_models``), and a run with a dollar budget that uses it is
refused before it starts (:func:`check_priced`), since the budget could not be enforced.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from swarm.errors import ConfigError

PRICES_ENV = "SWARM_PRICES"
PRICE_HINT = (
    "give its price with --price-in/--price-out (US$ per million tokens), "
    f"or {PRICES_ENV}='{{\"MODEL\": [IN, OUT]}}'"
)


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float
    known: bool = True
    """False for :data:`UNKNOWN`: the model has no price, its cost is counted as 0."""

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_million + tokens_out * self.output_per_million) / 1e6


def _both(name: str, price: Price) -> dict[str, Price]:
    return {name: price, f"moonshotai/{name}": price}


DEFAULT_PRICES: dict[str, Price] = {
    **_both("kimi-k2.6", Price(0.95, 4.00)),
    **_both("kimi-k2-thinking", Price(0.60, 2.50)),
    **_both("kimi-k2-turbo-preview", Price(1.15, 8.00)),
}
UNKNOWN = Price(0.0, 0.0, known=False)
"""What :func:`price_for` gives a model with no price."""

PriceOverrides = Mapping[str, tuple[float, float]]
"""model → (input, output) US$ per million tokens."""


def price_table(
    env: Mapping[str, str] | None = None, overrides: PriceOverrides | None = None
) -> dict[str, Price]:
    """The built-in prices, then ``SWARM_PRICES``, then ``overrides`` (the run's own)."""
    env = os.environ if env is None else env
    table = dict(DEFAULT_PRICES)
    raw = env.get(PRICES_ENV, "").strip()
    if raw:
        table.update(_parse(_env_text(raw), PRICES_ENV))
    for model, pair in (overrides or {}).items():
        table[model] = _price(model, pair, "prices")
    return table


def price_for(table: Mapping[str, Price], model: str) -> Price:
    return table.get(model, UNKNOWN)


def unpriced(table: Mapping[str, Price], models: Iterable[str]) -> list[str]:
    """The models of ``models`` with no price, in order, once each."""
    return sorted({m for m in models if not price_for(table, m).known})


def check_priced(table: Mapping[str, Price], models: Iterable[str], max_cost: float | None) -> None:
    """Refuse a dollar budget that could not be enforced because a model has no price."""
    missing = unpriced(table, models)
    if max_cost is not None and missing:
        names = ", ".join(repr(m) for m in missing)
        raise ConfigError(
            f"a cost budget (max_cost={max_cost:g}) cannot be enforced: no price is known for "
            f"{names}",
            hint=f"{PRICE_HINT}; or cap tokens with max_tokens instead of dollars",
        )


def _env_text(raw: str) -> str:
    if raw.startswith(("{", "[")):  # JSON text, else the path of a file holding it
        return raw
    path = Path(raw).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{PRICES_ENV}={raw!r} is neither a JSON object nor a readable file: {exc.strerror}",
            hint=f"e.g. {PRICES_ENV}='{{\"kimi-k2.6\": [0.95, 4.0]}}'",
        ) from None


def _parse(text: str, source: str) -> dict[str, Price]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        data = exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} is not a JSON object of [input, output] prices",
            hint=f"e.g. {source}='{{\"kimi-k2.6\": [0.95, 4.0]}}'",
        )
    return {str(model): _price(str(model), pair, source) for model, pair in data.items()}


def _price(model: str, pair: object, source: str) -> Price:
    price = Price(-1.0, -1.0)
    if isinstance(pair, list | tuple) and len(pair) == 2:
        with contextlib.suppress(TypeError, ValueError):
            price = Price(float(pair[0]), float(pair[1]))
    if not (0 <= price.input_per_million < 1e6 and 0 <= price.output_per_million < 1e6):
        raise ConfigError(
            f"{source}: the price of {model!r} is not two non-negative numbers: {pair!r}",
            hint="give [input, output] in US$ per million tokens, e.g. [0.95, 4.0]",
        )
    return price
