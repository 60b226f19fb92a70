"""Test fakes: a provider driven by a plain function, and small plan builders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from swarm.providers.base import ModelRequest, ModelResponse, estimate_tokens


@dataclass
class ScriptedProvider:
    """Answers each call with ``script(request)``; records calls and the peak concurrency."""

    script: Callable[[ModelRequest], Awaitable[str]] | None = None
    name: str = "scripted"
    simulated: bool = True
    calls: list[ModelRequest] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls.append(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.script is None:
                await anyio.lowlevel.checkpoint()
                text = f"answer to {request.prompt.splitlines()[0]}"
            else:
                text = await self.script(request)
        finally:
            self.in_flight -= 1
        return ModelResponse(text, estimate_tokens(request.prompt), estimate_tokens(text), 0.0)

    async def aclose(self) -> None:
        return None

    def tasks_called(self) -> list[str]:
        return [r.call_key.split("/")[1] for r in self.calls]


def plan_data(tasks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"goal": "test", "tasks": tasks, **extra}


def chain(*ids: str) -> list[dict[str, Any]]:
    out = []
    for i, tid in enumerate(ids):
        deps = [ids[i - 1]] if i else []
        out.append({"id": tid, "kind": "llm", "prompt": f"do {tid}", "deps": deps})
    return out
