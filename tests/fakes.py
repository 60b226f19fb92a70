"""Test fakes: a provider driven by a plain function, small plan builders, and a run of a plan
through a remote provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from swarm.plan import Plan
from swarm.providers.base import ModelRequest, ModelResponse, Provider, estimate_tokens
from swarm.runtime import run as runs
from swarm.store.store import Store

Script = Callable[[ModelRequest], Awaitable[str]]


@dataclass
class ScriptedProvider:
    """Answers each call with ``script(request)``; records calls and the peak concurrency."""

    script: Script | None = None
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


async def execute_remote(
    db: Path, plan: Plan, provider: Provider, *, within_s: float
) -> dict[str, Any]:
    """Record and run ``plan`` (run id ``r``) on the database at ``db`` through a remote provider
    (as ``--provider replicate``), failing after ``within_s``; closes the provider and store."""
    store = await Store.open(db)
    try:
        with anyio.fail_after(within_s):
            return await runs.execute(
                store, plan, provider, runs.RunOptions(provider="replicate"), run_id="r"
            )
    finally:
        await provider.aclose()
        await store.close()
