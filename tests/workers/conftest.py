"""Fixtures for the worker tests: a task context over a scripted model, and a fake sandbox."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from swarm.core.budget import Budget
from swarm.plan import ModelParams, TaskSpec
from swarm.providers.base import ModelRequest, Provider
from swarm.providers.pricing import Price
from swarm.runtime.budget_gate import BudgetGate
from tests.fakes import ScriptedProvider
from workers.base import TaskContext
from workers.sandbox import Limits, SandboxResult


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_ctx(
    tmp_path: Path,
    spec: dict[str, Any],
    provider: Provider | None = None,
    *,
    allowance: int = 20,
    inputs: dict[str, str] | None = None,
) -> TaskContext:
    """A context for one attempt of ``spec`` with its run folder under ``tmp_path``."""
    return TaskContext(
        run_id="r",
        spec=TaskSpec.model_validate({"id": "t", **spec}),
        attempt=1,
        allowance=allowance,
        model="m",
        params=ModelParams(max_tokens=256),
        inputs=inputs or {},
        provider=provider or ScriptedProvider(),
        budget=BudgetGate(Budget(None, None)),
        price=Price(0.0, 0.0),
        run_dir=tmp_path / "run",
    )


Script = Callable[[ModelRequest], Any]


def actions(script: Script) -> ScriptedProvider:
    """A provider whose answer to each call is ``script(request)``: a dict is sent as JSON,
    a string as it is."""

    async def answer(request: ModelRequest) -> str:
        value = script(request)
        return value if isinstance(value, str) else json.dumps(value)

    return ScriptedProvider(answer)


def in_order(*answers: Any) -> Script:
    """Answer the calls with ``answers`` in turn, repeating the last one."""
    queue = list(answers)

    def next_answer(request: ModelRequest) -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return next_answer


def act(tool: str, **args: Any) -> dict[str, Any]:
    return {"thought": f"use {tool}", "tool": tool, "args": args}


def is_final(request: ModelRequest) -> bool:
    return request.json_schema is not None and request.json_schema["title"].endswith("(final)")


DEFAULT_LIMITS = Limits()


@dataclass
class FakeSandbox:
    """Answers each run with ``respond(code)`` (a clean exit printing a line, by default)."""

    respond: Callable[[str], Awaitable[SandboxResult]] | None = None
    codes: list[str] = field(default_factory=list)

    async def run(
        self, code: str, *, workspace: Path, stdin: bytes = b"", limits: Limits = DEFAULT_LIMITS
    ) -> SandboxResult:
        self.codes.append(code)
        if self.respond is not None:
            return await self.respond(code)
        return SandboxResult(limits, 0, None, f"ran {len(code)} chars\n", "", 0.01)
