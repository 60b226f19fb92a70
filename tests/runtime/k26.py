"""A provider that counts tokens as Kimi K2.6 does on average (about 4 ASCII characters and 1.4
Chinese characters a token, plus its chat template), over the sim's answers: the budget tests'
stand-in for a real model whose counts exceed a len/4 estimate."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.sim import SimProvider

TEMPLATE = 12
"""Tokens K2.6's chat template adds around a prompt (role markers, separators)."""


def k26_count(text: str) -> int:
    cjk = sum(1 for c in text if ord(c) >= 0x2E80)
    return math.ceil((len(text) - cjk) / 4) + math.ceil(cjk / 1.4)


@dataclass
class K26Counting:
    """The sim's answers with K2.6's input counts; records the most calls in flight at once."""

    inner: SimProvider = field(default_factory=SimProvider)
    name: str = "sim"
    simulated: bool = True
    in_flight: int = 0
    peak: int = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await self.inner.complete(request)
        finally:
            self.in_flight -= 1
        counted = k26_count(request.prompt) + k26_count(request.system_prompt or "") + TEMPLATE
        out = min(response.tokens_out, request.max_tokens)
        return dataclasses.replace(response, tokens_in=counted, tokens_out=out)

    async def aclose(self) -> None:
        await self.inner.aclose()
