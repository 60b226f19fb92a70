"""Plan files: the pydantic model of a plan, its JSON Schema, and loading that reports all problems.

A plan is the hand-writable contract between a planner (or a person) and the scheduler. The
smallest valid plan is a goal and a list of tasks with ``id``, ``kind`` and ``prompt``; every
other field has a default at plan level that a task may override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swarm.errors import PlanError, Problem
from swarm.plan_file import MAX_PLAN_BYTES as MAX_PLAN_BYTES
from swarm.plan_file import decode_plan as decode_plan
from swarm.plan_file import read_plan_file as read_plan_file

PLAN_VERSION: Literal[1] = 1
DEFAULT_MODEL = "moonshotai/kimi-k2.6"
MAX_TASKS = 100_000
TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

ReasoningEffort = Literal["none", "low", "medium", "high"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelParams(_Strict):
    """Inputs passed to the model on every call (Kimi K2.6's Replicate inputs)."""

    max_tokens: int | None = Field(None, ge=1, le=32_768)
    """Upper bound on output tokens per call; also sizes the budget reservation."""
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    reasoning_effort: ReasoningEffort | None = None
    system_prompt: str | None = None

    def merged(self, override: ModelParams | None) -> ModelParams:
        """These parameters with every field that ``override`` sets taken from it."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class TaskDefaults(_Strict):
    """Plan-level defaults that every task inherits unless it overrides them."""

    model: str = DEFAULT_MODEL
    params: ModelParams = ModelParams(max_tokens=2048)
    max_steps: int | None = Field(None, ge=1, le=4000)
    """Step allowance per task; ``None`` lets the task kind choose (one call needs few)."""
    timeout_s: float = Field(600.0, gt=0, le=86_400)
    retries: int = Field(2, ge=0, le=20)


class RunBudget(_Strict):
    """Run-wide limits: the swarm's step pool, concurrency, tokens and dollars."""

    max_steps: int = Field(4000, ge=1, le=1_000_000)
    """The swarm-wide step pool from which task allowances are drawn."""
    max_concurrency: int = Field(64, ge=1, le=10_000)
    per_kind_concurrency: dict[str, int] = Field(
        default_factory=dict, json_schema_extra={"default": {}}
    )
    max_tokens: int | None = Field(None, ge=1)
    max_cost_usd: float | None = Field(None, gt=0)


class Approval(_Strict):
    """A person must approve the task before it runs (``approval: true`` is this, defaulted)."""

    prompt: str | None = Field(None, max_length=4000)
    """What the approver is asked (shown by `swarm approvals` with the upstream results)."""
    timeout_s: float | None = Field(None, gt=0, le=365 * 86_400)
    """How long the gate may wait from the moment it is reached; None: as long as it takes."""
    on_timeout: Literal["reject", "approve", "pause"] = "reject"
    """What a timeout decides: ``reject`` (the task fails, its branch is skipped), ``approve``
    (it runs), or ``pause`` (no decision: the run stops waiting and ends ``waiting``, resumable,
    even under ``--wait-approvals``)."""


class TaskSpec(_Strict):
    """One subtask of the plan: a node of the DAG."""

    id: str = Field(pattern=TASK_ID_PATTERN)
    kind: str = Field(min_length=1, max_length=64)
    prompt: str = ""
    deps: list[str] = Field(default_factory=list, json_schema_extra={"default": []})
    title: str | None = None
    model: str | None = None
    params: ModelParams | None = None
    max_steps: int | None = Field(None, ge=1, le=4000)
    timeout_s: float | None = Field(None, gt=0, le=86_400)
    retries: int | None = Field(None, ge=0, le=20)
    estimate_s: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description=(
            "Expected duration in seconds, a rough guess; used only to start the tasks on the"
            " longest path (in time) first. Without it a task's length is judged from its"
            " max_tokens and steps."
        ),
    )
    output_schema: dict[str, Any] | None = None
    """A JSON Schema the task's output must satisfy; the model is asked for JSON then."""
    config: dict[str, Any] = Field(default_factory=dict, json_schema_extra={"default": {}})
    """Settings specific to the task's kind, checked by that kind's worker."""
    tools: list[str] = Field(
        default_factory=list, max_length=256, json_schema_extra={"default": []}
    )
    """Extra tools an ``agent`` or ``orchestrator`` task may call, as globs over ``server.tool``
    names of the plan's ``mcp_servers`` and ``fetch`` (``["kb.*", "fetch"]``); nothing else can
    be called."""
    approval: bool | Approval = False
    """Wait for a person's decision before the task runs (`swarm approve`/`swarm reject`): its
    branch waits, holding no worker slot, while independent branches go on."""

    def approval_gate(self) -> Approval | None:
        """The task's approval settings, or None if it needs no approval."""
        if isinstance(self.approval, Approval):
            return self.approval
        return Approval() if self.approval else None


def prefixed(spec: TaskSpec, prefix: str) -> TaskSpec:
    """``spec`` with ``prefix`` put before its id and its deps' ids (tasks a plan adds to a run at
    run time: sub-plans, revisions); ValueError if an id grows past the id pattern."""
    data = spec.model_dump()
    data["id"] = prefix + spec.id
    data["deps"] = [prefix + dep for dep in spec.deps]
    return TaskSpec.model_validate(data)


class _McpServer(_Strict):
    """Settings every MCP server has: how many calls it serves at once, how long a call and
    its tool list last."""

    max_concurrency: int = Field(16, ge=1, le=1024)
    """Calls in flight through this server's one pooled session, shared by all agents."""
    call_timeout_s: float = Field(60.0, gt=0, le=3600)
    tools_ttl_s: float = Field(300.0, ge=0, le=86_400)
    """How long the server's tool list is cached before it is fetched again."""
    max_restarts: int = Field(5, ge=0, le=100)
    """Restarts (with backoff) after the server dies before its tools fail for the run."""


class StdioServer(_McpServer):
    """An MCP server run as a child process speaking stdio."""

    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list, json_schema_extra={"default": []})
    env: list[str] = Field(default_factory=list, json_schema_extra={"default": []})
    """Names of this process's variables to pass (never values); the rest of its environment
    is an allow-list (PATH, LANG, HOME=/tmp, ...)."""
    cwd: str | None = None


class HttpServer(_McpServer):
    """An MCP server reached over streamable HTTP at exactly ``url``."""

    url: str = Field(pattern=r"^https?://[^\s]+$")
    headers: dict[str, str] = Field(default_factory=dict, json_schema_extra={"default": {}})
    """Header name → name of the environment variable holding its value (never the value)."""


class FetchSettings(_Strict):
    """The ``fetch`` tool: which hosts it may GET, and its caps."""

    allow_hosts: list[str] = Field(default_factory=list, json_schema_extra={"default": []})
    """Host globs allowed (``["*.python.org"]``); empty allows every public host."""
    deny_hosts: list[str] = Field(default_factory=list, json_schema_extra={"default": []})
    allow_private: bool = False
    """Allow loopback, private and link-local addresses (off: only for local tests)."""
    max_bytes: int = Field(2_000_000, ge=1024, le=50_000_000)
    timeout_s: float = Field(20.0, gt=0, le=600)
    max_redirects: int = Field(5, ge=0, le=20)


class Plan(_Strict):
    """A goal and the DAG of tasks that achieves it."""

    version: Literal[1] = PLAN_VERSION
    goal: str = Field(min_length=1)
    defaults: TaskDefaults = TaskDefaults()
    budget: RunBudget = RunBudget()
    tasks: list[TaskSpec] = Field(min_length=1, max_length=MAX_TASKS)
    mcp_servers: dict[str, StdioServer | HttpServer] = Field(
        default_factory=dict, json_schema_extra={"default": {}}
    )
    """MCP servers the tasks' ``tools`` globs name, by server name."""
    fetch: FetchSettings = FetchSettings()

    def task(self, task_id: str) -> TaskSpec:
        for spec in self.tasks:
            if spec.id == task_id:
                return spec
        raise KeyError(task_id)

    def to_json(self) -> str:
        """Canonical JSON (defaults left out) used to store the plan with its run."""
        return self.model_dump_json(exclude_defaults=True)


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of plan files, as `swarm schema` prints it."""
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"swarm plan, version {PLAN_VERSION}"
    return schema


def _where(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into (task id or section, dotted field)."""
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        index = loc[1]
        task_id = None
        if isinstance(raw, dict) and isinstance(raw.get("tasks"), list):
            tasks = raw["tasks"]
            if index < len(tasks) and isinstance(tasks[index], dict):
                candidate = tasks[index].get("id")
                task_id = candidate if isinstance(candidate, str) else None
        where = f"task {task_id!r}" if task_id else f"tasks[{index}]"
        return where, ".".join(str(p) for p in loc[2:])
    if not loc:
        return "plan", ""
    return "plan", ".".join(str(p) for p in loc)


def _pydantic_problems(raw: Any, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        where, field = _where(raw, tuple(err["loc"]))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against `swarm schema`)"
        problems.append(Problem(where, field, message))
    return problems


def parse_plan(raw: Any, *, source: str = "plan", known_kinds: set[str] | None = None) -> Plan:
    """Validate already-decoded plan data: the model, then the DAG; raise with every problem."""
    # Imported here: dag imports this module for the Plan type.
    from swarm.dag import graph_problems

    problems: list[Problem] = []
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(raw, exc))
    problems.extend(graph_problems(raw, known_kinds=known_kinds))
    if plan is not None:
        from swarm.validation import limit_problems  # the checks a plan's JSON document has

        problems.extend(limit_problems(plan.model_dump()))
    if problems:
        raise PlanError(source, _dedupe(problems))
    assert plan is not None
    return plan


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def loads_plan(text: str, *, source: str = "plan", known_kinds: set[str] | None = None) -> Plan:
    """Decode and validate plan JSON text."""
    return parse_plan(decode_plan(text, source=source), source=source, known_kinds=known_kinds)


def load_plan(path: str | Path, *, known_kinds: set[str] | None = None) -> Plan:
    """Read and validate a plan file; every failure is a :class:`PlanError`."""
    return parse_plan(read_plan_file(path), source=str(path), known_kinds=known_kinds)
