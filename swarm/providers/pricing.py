"""Per-model prices used to estimate and reserve cost; users may override the table.

The default for ``moonshotai/kimi-k2.6`` is Moonshot's published list price for K2.6 (cache
miss): $0.95 per million input tokens and $4.00 per million output tokens, as also listed by
Cloudflare Workers AI for ``@cf/moonshotai/kimi-k2.6``. Replicate bills some official models by
time rather than tokens; treat the cost figures as estimates and set your own table for exact
accounting (``SWARM_PRICES`` as JSON: ``{"model": [input_per_million, output_per_million]}``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from swarm.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_million + tokens_out * self.output_per_million) / 1e6


DEFAULT_PRICES: dict[str, Price] = {
    "moonshotai/kimi-k2.6": Price(0.95, 4.00),
    "kimi-k2.6": Price(0.95, 4.00),
}
FALLBACK = Price(0.95, 4.00)
"""Unknown models are priced like K2.6, so a budget is never silently unlimited."""


def price_table(env: dict[str, str] | None = None) -> dict[str, Price]:
    env = dict(os.environ) if env is None else env
    table = dict(DEFAULT_PRICES)
    raw = env.get("SWARM_PRICES")
    if raw:
        try:
            data = json.loads(raw)
            for model, (inp, out) in data.items():
                table[str(model)] = Price(float(inp), float(out))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"SWARM_PRICES is not a JSON object of [input, output] prices: {exc}",
                hint="e.g. SWARM_PRICES='{\"moonshotai/kimi-k2.6\": [0.95, 4.0]}'",
            ) from None
    return table


def price_for(table: dict[str, Price], model: str) -> Price:
    return table.get(model, FALLBACK)
