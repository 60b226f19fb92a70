"""Fakes for planner tests: providers that answer planning calls from a list of texts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from swarm.providers.base import ModelRequest, ModelResponse, estimate_tokens
from tests.fakes import ScriptedProvider

OUTPUTS = Path(__file__).resolve().parents[1] / "fixtures" / "planner_outputs"
GOAL = "Compare three vector databases"


def read_output(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogatepass")


GOOD = read_output(OUTPUTS / "ok" / "plain_lines.txt")
"""A valid plan in the line protocol: the "good repair" answer."""


def answering(*texts: str) -> ScriptedProvider:
    """A provider whose n-th call gets ``texts[n]`` (the last text repeats)."""
    provider = ScriptedProvider()

    async def script(request: ModelRequest) -> str:
        await anyio.lowlevel.checkpoint()
        return texts[min(len(provider.calls) - 1, len(texts) - 1)]

    provider.script = script
    return provider


@dataclass
class StreamingFake:
    """A streaming provider: each answer is sent in ``chunk``-sized pieces; ``sent`` counts the
    pieces handed out and ``finished`` the answers sent to their end."""

    texts: list[str]
    chunk: int = 7
    name: str = "streaming-fake"
    simulated: bool = True
    calls: list[ModelRequest] = field(default_factory=list)
    sent: int = 0
    finished: int = 0

    def _text(self, request: ModelRequest) -> str:
        self.calls.append(request)
        return self.texts[min(len(self.calls) - 1, len(self.texts) - 1)]

    async def complete(self, request: ModelRequest) -> ModelResponse:
        text = self._text(request)
        return ModelResponse(text, estimate_tokens(request.prompt), estimate_tokens(text), 0.0)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        text = self._text(request)
        for at in range(0, len(text), self.chunk):
            await anyio.lowlevel.checkpoint()
            self.sent += 1
            yield text[at : at + self.chunk]
        self.finished += 1

    async def aclose(self) -> None:
        return None
