"""How dependency results are trimmed to fit the model's context window.

Policy: inputs that fit are kept whole. When they do not, the budget is shared out fairly —
small inputs are kept whole and the rest split what remains equally — and each cut input ends
with a marker saying how much was dropped. The names of trimmed inputs are returned so the
prompt (and hence the recorded step) says what was cut.
"""

from __future__ import annotations

CONTEXT_TOKENS = 262_144
"""Kimi K2.6's context window."""
CHARS_PER_TOKEN = 4


def fit_inputs(inputs: dict[str, str], token_budget: int) -> tuple[dict[str, str], list[str]]:
    budget = max(0, token_budget) * CHARS_PER_TOKEN
    total = sum(len(v) for v in inputs.values())
    if total <= budget:
        return dict(inputs), []
    share: dict[str, int] = {}
    remaining = budget
    pending = sorted(inputs, key=lambda k: len(inputs[k]))
    while pending:
        fair = remaining // len(pending)
        key = pending[0]
        if len(inputs[key]) <= fair:
            share[key] = len(inputs[key])
            remaining -= share[key]
            pending.pop(0)
        else:
            for k in pending:
                share[k] = fair
            break
    out: dict[str, str] = {}
    trimmed: list[str] = []
    for key, text in inputs.items():
        keep = share[key]
        if keep >= len(text):
            out[key] = text
        else:
            trimmed.append(key)
            out[key] = text[:keep] + f"\n[… {len(text) - keep} characters trimmed]"
    return out, trimmed
