"""The registry: built-in kinds, and third-party kinds through ``swarm.workers`` entry points."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest

from swarm.errors import ConfigError, Problem
from swarm.plan import TaskSpec
from workers import registry as reg
from workers.base import TaskContext


class EchoWorker:
    """A third-party kind: returns its prompt."""

    kind: ClassVar[str] = "echo"
    description: ClassVar[str] = "returns its prompt"
    default_steps: ClassVar[int] = 1

    def check(self, spec: TaskSpec) -> list[Problem]:
        return []

    async def run(self, ctx: TaskContext) -> str:
        return ctx.spec.prompt


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    """Entry points the registry will see, in place of the installed packages'."""
    declared: list[EntryPoint] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        assert group == "swarm.workers"
        return declared

    monkeypatch.setattr(reg, "entry_points", fake_entry_points)
    reg.registry.cache_clear()
    yield declared
    reg.registry.cache_clear()


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="swarm.workers")


def test_builtin_kinds(plugins: list[EntryPoint]) -> None:
    assert {"llm", "agent", "code"} <= reg.known_kinds()
    for name, worker in reg.registry().items():
        assert worker.kind == name and worker.description and worker.default_steps >= 1


def test_an_entry_point_adds_a_kind(plugins: list[EntryPoint]) -> None:
    plugins.append(entry("echo", f"{__name__}:EchoWorker"))
    assert isinstance(reg.get_worker("echo"), EchoWorker)
    assert "echo" in reg.known_kinds()


def test_a_plugin_cannot_replace_a_builtin(plugins: list[EntryPoint]) -> None:
    plugins.append(entry("llm", f"{__name__}:EchoWorker"))
    assert not isinstance(reg.get_worker("llm"), EchoWorker)


def test_a_broken_plugin_names_itself(plugins: list[EntryPoint]) -> None:
    plugins.append(entry("broken", "no_such_module_xyz:Worker"))
    with pytest.raises(ConfigError, match="worker plug-in 'broken'"):
        reg.registry()


def test_unknown_kind(plugins: list[EntryPoint]) -> None:
    with pytest.raises(ConfigError, match="unknown task kind 'nope'"):
        reg.get_worker("nope")


def test_a_plugin_kind_validates_in_a_plan(plugins: list[EntryPoint]) -> None:
    from swarm.validation import validate_data

    plugins.append(entry("echo", f"{__name__}:EchoWorker"))
    data: dict[str, Any] = {"goal": "g", "tasks": [{"id": "a", "kind": "echo", "prompt": "hi"}]}
    assert validate_data(data).tasks[0].kind == "echo"
