"""The one way swarm writes an amount of US dollars, so that every message, table and display
agrees, and a small nonzero amount (a $0.001 budget) never reads as ``$0.00``."""

from __future__ import annotations

import math

SUB_DOLLAR_PLACES = 4
"""Decimal places under one dollar (model calls cost fractions of a cent)."""
MAX_PLACES = 10


def usd(amount: float) -> str:
    """``amount`` as dollars: cents from $1 up (``$1,234.50``), four places under $1
    (``$0.0031``), and more places when four would hide a nonzero amount (``$0.000012``)."""
    if not math.isfinite(amount):
        return f"${amount}"
    sign, value = ("-", -amount) if amount < 0 else ("", amount)
    if value >= 1:
        return f"{sign}${value:,.2f}"
    places = SUB_DOLLAR_PLACES
    if value:
        # two significant digits at least: 0.000012 -> 6 places
        places = min(MAX_PLACES, max(places, 1 - math.floor(math.log10(value))))
    text = f"{value:.{places}f}"
    if value and float(text) == 0:
        text = f"{value:.{MAX_PLACES}f}"
    return f"{sign}${text}"
