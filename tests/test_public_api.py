"""The public surface of ``swarm`` is pinned (as trio pins its own): what ``__all__`` holds,
that every name resolves, that the plug-in protocols are the real ones, and that a type checker
sees the typed package after the README's editable install."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Protocol

import pytest

import swarm

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {
    # the API and what it returns
    "Swarm", "RunHandle", "RunSettings", "SwarmWarning",
    "RunSummary", "RunEvent", "TaskResult", "Artifact", "RunInfo",
    "PendingApproval", "ApprovalDecision",
    # plans
    "Plan", "TaskSpec", "TaskDefaults", "RunBudget", "ModelParams",
    # plug-in protocols and their values
    "Worker", "TaskContext", "Provider", "ModelRequest", "ModelResponse",
    # the error tree
    "SwarmError", "InputError", "PlanError", "PlannerError", "ConfigError", "RunNotFound",
    "StoreError", "TaskError", "ProviderError", "BudgetExceeded", "AlreadyDecided",
    "__version__",
}  # fmt: skip


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert set(swarm.__all__) == PUBLIC
    assert len(swarm.__all__) == len(PUBLIC)
    for name in swarm.__all__:
        assert getattr(swarm, name) is not None
    with pytest.raises(AttributeError):
        _ = swarm.nothing_here  # type: ignore[attr-defined]


def test_the_plugin_protocols_are_the_ones_the_runtime_uses() -> None:
    from swarm.providers.base import Provider
    from workers.base import TaskContext, Worker

    assert swarm.Provider is Provider and swarm.Worker is Worker
    assert swarm.TaskContext is TaskContext
    for protocol in (swarm.Provider, swarm.Worker):
        assert Protocol in inspect.getmro(protocol) or getattr(protocol, "_is_protocol", False)
    assert {"complete", "aclose", "name", "simulated"} <= set(dir(swarm.Provider)) | set(
        swarm.Provider.__annotations__
    )
    assert hasattr(swarm.Worker, "run")


def test_what_the_api_returns_is_typed() -> None:
    for cls in (
        swarm.RunSummary,
        swarm.RunEvent,
        swarm.TaskResult,
        swarm.Artifact,
        swarm.RunInfo,
        swarm.PendingApproval,
        swarm.ApprovalDecision,
    ):
        assert dataclasses.is_dataclass(cls)
        assert all(f.type not in ("Any", "dict[str, Any]") or f.name in {"metrics", "data"}
                   for f in dataclasses.fields(cls))  # fmt: skip
    hints = inspect.get_annotations(swarm.Swarm.results, eval_str=True)
    assert hints["return"] == list[swarm.TaskResult]


def test_mypy_sees_the_installed_package(tmp_path: Path) -> None:
    """Run from a folder outside the repository, so mypy finds ``swarm`` only as an installed
    package (the editable install's path entry and ``py.typed``)."""
    script = tmp_path / "use_swarm.py"
    script.write_text(
        textwrap.dedent(
            """
            from swarm import RunSummary, Swarm, TaskResult

            async def main() -> None:
                async with Swarm("s.db") as sw:
                    summary: RunSummary = await sw.execute("plan.json", concurrency=4)
                    results: list[TaskResult] = await sw.results(summary.run_id)
                    cost: float = summary.cost_usd
                    wrong: int = summary.status
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert "import-not-found" not in out and "import-untyped" not in out, out
    # It checks the types: the one deliberate mistake is found, and nothing else.
    assert 'Incompatible types in assignment (expression has type "str"' in out, out
    assert "Found 1 error" in out, out
    assert (ROOT / "swarm" / "py.typed").exists()
