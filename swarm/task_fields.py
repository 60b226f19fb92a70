"""What a task kind's checks read of a task, without pydantic: the seam that lets `swarm
validate` check a plan without building the plan models (pydantic and the models cost about
three quarters of its start-up).

:class:`TaskFields` is the part of a task a kind's rules read; the plan model's
:class:`~swarm.plan.TaskSpec` has it, and so does :class:`TaskDoc`, made from a task's JSON
object once the plan's committed JSON Schema has vouched for it and its defaults are filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class TaskFields(Protocol):
    """The fields of a task that a kind's static checks read (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def deps(self) -> list[str]: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def output_schema(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class TaskDoc:
    """A task's fields read from its checked JSON object (defaults filled in)."""

    id: str
    kind: str
    prompt: str
    deps: list[str]
    config: dict[str, Any]
    output_schema: dict[str, Any] | None

    @classmethod
    def of(cls, task: Mapping[str, Any]) -> TaskDoc:
        """The fields of a filled task object (as ``TaskSpec.model_dump()`` gives it)."""
        return cls(
            id=task["id"],
            kind=task["kind"],
            prompt=task["prompt"],
            deps=task["deps"],
            config=task["config"],
            output_schema=task["output_schema"],
        )


def task_problem(data: object) -> tuple[str, str] | None:
    """None if ``data`` is a valid task object, else its first problem as (dotted field,
    message); a ``map`` task checks its template with it.

    Pydantic is imported only to word a problem: the plan's JSON Schema vouches for a valid
    object first.
    """
    from swarm.plan_schema import fill_task

    if fill_task(data) is not None:
        return None
    from pydantic import ValidationError

    from swarm.plan import TaskSpec

    try:
        TaskSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return ".".join(str(p) for p in first["loc"]), first["msg"]
    return None
