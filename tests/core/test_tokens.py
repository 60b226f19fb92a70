"""The input-token estimate for reservations: above K2.6's count for each script, and learned
from the provider's counts (up at once, down only with evidence and a margin)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.core.tokens import (
    MARGIN,
    MIN_OBSERVATIONS,
    TEMPLATE_TOKENS,
    TokenEstimator,
    script_estimate,
)

CHINESE = "请总结以下研究发现并列出三个要点，每个要点不超过二十个字。"
ENGLISH = "Summarise the following findings and list three key points, briefly."


def k26_count(text: str) -> int:
    """How Kimi K2.6 counts, on average: ~4 ASCII characters and ~1.4 CJK characters a token."""
    cjk = sum(1 for c in text if ord(c) >= 0x2E80)
    return math.ceil((len(text) - cjk) / 4) + math.ceil(cjk / 1.4)


def test_each_script_is_estimated_above_what_k26_counts() -> None:
    for text in (CHINESE, ENGLISH, CHINESE + ENGLISH, "こんにちは世界", "안녕하세요 세계"):
        assert script_estimate(text) >= k26_count(text), text
    # the old len/4 estimate under-counts Chinese by 2.9x; this one does not
    assert (len(CHINESE) + 3) // 4 < k26_count(CHINESE) <= script_estimate(CHINESE)


def test_emoji_and_other_scripts_are_reserved_generously() -> None:
    assert script_estimate("😀") == 3
    assert script_estimate("Привет") == 6
    assert script_estimate("") == 0


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list(CHINESE + ENGLISH)), max_size=400))
def test_the_static_estimate_covers_k26_for_any_mix(text: str) -> None:
    assert TokenEstimator().estimate(text) >= k26_count(text)


def test_a_count_above_the_estimate_raises_the_scale_at_once() -> None:
    est = TokenEstimator()
    before = est.estimate(ENGLISH)
    est.observe(ENGLISH, "", before * 2)  # a provider counting twice what was reserved
    assert est.estimate(ENGLISH) >= before * 2 * MARGIN - 1
    assert est.observations == 1


def test_the_scale_comes_down_only_after_enough_counts_and_stays_above_them() -> None:
    est = TokenEstimator()
    raw = script_estimate(CHINESE) + TEMPLATE_TOKENS
    counted = k26_count(CHINESE) + 5  # what K2.6 reports, template included
    for _ in range(MIN_OBSERVATIONS - 1):
        est.observe(CHINESE, "", counted)
    assert est.scale == 1.0  # too few counts to trust a lower estimate
    est.observe(CHINESE, "", counted)
    assert est.scale < 1.0
    assert est.estimate(CHINESE) >= counted  # never below what was seen
    assert est.estimate(CHINESE) <= math.ceil(raw * (counted / raw) * MARGIN) + 1


def test_a_response_without_a_count_teaches_nothing() -> None:
    est = TokenEstimator()
    est.observe(CHINESE, "", 0)
    assert (est.scale, est.observations) == (1.0, 0)
