"""Token estimates for budget reservations: conservative for the script at hand, and corrected by
what the provider reports as the run goes.

A budget can only be a cap if no call is charged more than it reserved. The output side is
bounded by ``max_tokens``; the input side is an estimate, because no tokenizer for Kimi K2.6 can
be loaded here (its tokenizer ships with the model's weights on the hub). So the estimate errs
high for each script: K2.6 counts about 4 characters per token for English and 1.4 for Chinese;
this module reserves 1 token per 3 ASCII characters, 1 per CJK character, 1 per character of
other scripts and 3 per character outside the Basic Multilingual Plane (emoji), plus a fixed
allowance for the chat template. :class:`TokenEstimator` then learns from the provider's counts:
it scales its estimate up at once when a count comes in above it, and down (never below what it
has seen, plus a margin) once enough counts have shown it to be high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TEMPLATE_TOKENS = 16
"""Tokens reserved per call for the chat template around the prompt (roles, separators)."""

ASCII_CHARS_PER_TOKEN = 3
"""K2.6 averages about 4 ASCII characters per token on prose; 3 leaves room for code and digits."""

ASTRAL_TOKENS = 3
"""Tokens reserved per character outside the BMP (emoji, rare ideographs): up to 4 UTF-8 bytes."""

MARGIN = 1.1
"""How far above the highest observed ratio a learned scale stays."""

MIN_OBSERVATIONS = 8
"""Counts needed before the estimate may be scaled *down*."""


def _is_cjk(code: int) -> bool:
    return (
        0x2E80 <= code <= 0x9FFF  # radicals, punctuation, kana, CJK ideographs, Hangul Jamo ext
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0xFF00 <= code <= 0xFFEF  # half- and full-width forms
    )


def script_estimate(text: str) -> int:
    """The static, per-script estimate of ``text``'s token count (no template allowance)."""
    ascii_chars = cjk = other = astral = 0
    for char in text:
        code = ord(char)
        if code < 0x80:
            ascii_chars += 1
        elif code > 0xFFFF:
            astral += 1
        elif _is_cjk(code):
            cjk += 1
        else:
            other += 1
    return -(-ascii_chars // ASCII_CHARS_PER_TOKEN) + cjk + other + ASTRAL_TOKENS * astral


@dataclass(slots=True)
class TokenEstimator:
    """One run's input-token estimator: the static estimate times a scale learned from the
    provider's counts (1.0 until it has seen any)."""

    scale: float = 1.0
    worst_ratio: float = 0.0
    """The highest provider count / static estimate seen so far."""
    observations: int = 0

    def estimate(self, prompt: str, system_prompt: str = "") -> int:
        """Tokens to reserve for a call's input."""
        raw = script_estimate(prompt) + script_estimate(system_prompt) + TEMPLATE_TOKENS
        return max(1, math.ceil(raw * self.scale))

    def observe(self, prompt: str, system_prompt: str, counted: int) -> None:
        """Learn from the input count a provider reported for a call."""
        raw = script_estimate(prompt) + script_estimate(system_prompt) + TEMPLATE_TOKENS
        if counted <= 0:
            return  # the provider reported nothing: nothing to learn
        ratio = counted / raw
        self.observations += 1
        self.worst_ratio = max(self.worst_ratio, ratio)
        learned = self.worst_ratio * MARGIN
        if learned > self.scale or self.observations >= MIN_OBSERVATIONS:
            self.scale = learned
