"""The ``code`` kind: runs the Python in the task's ``config.code`` in the sandbox, with the
dependencies' results as JSON on stdin, and takes its JSON result from stdout. No model.

stdin is one JSON object mapping each dependency's id to its result (decoded if the result is
JSON text, else the text itself). The code prints one JSON value; it is checked against the
task's ``output_schema`` if there is one. A failure the same code would repeat (an exception, a
resource limit, output that is not JSON) is not retried; a wall-clock timeout or a death by an
outside signal is, within the task's retry limit.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, ClassVar

import jsonschema

from swarm.errors import BudgetExceeded, CodeFailed, CodeTimeout, OutputError, Problem, TaskError
from swarm.plan import TaskSpec
from swarm.untrusted import loads_json
from workers.base import TaskContext
from workers.rules import code as rules
from workers.rules.common import setting
from workers.sandbox import Limits, ProcessSandbox, Sandbox, SandboxResult
from workers.tools import cap_text, utf8_safe

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 512


class CodeWorker:
    kind: ClassVar[str] = "code"
    description: ClassVar[str] = (
        "runs the Python in config.code in the sandbox: dependencies' results as JSON on "
        "stdin, its JSON result on stdout; no model"
    )
    default_steps: ClassVar[int] = 1

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self.sandbox: Sandbox = sandbox or ProcessSandbox()

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        if ctx.steps_left < 1:
            raise BudgetExceeded(f"step allowance of {ctx.allowance} used up")
        timeout = float(setting(spec, "timeout_s", DEFAULT_TIMEOUT_S))
        limits = Limits(
            wall_s=timeout,
            cpu_s=math.ceil(timeout),
            memory_mb=setting(spec, "memory_mb", DEFAULT_MEMORY_MB),
        )
        stdin = json.dumps({k: _decoded(v) for k, v in ctx.inputs.items()}, ensure_ascii=False)
        started = time.time()
        result = await self.sandbox.run(
            spec.config["code"], workspace=ctx.workspace, stdin=stdin.encode(), limits=limits
        )
        detail = result.summary()
        detail["stdout_chars"] = len(result.stdout)
        detail["stderr"] = cap_text(result.stderr, 2000)
        ctx.record_tool_step("code", started, detail)
        failure = result.failure()
        if failure is not None:
            raise _failed(failure, result)
        return _json_result(result.stdout, spec.output_schema)


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _failed(failure: str, result: SandboxResult) -> TaskError:
    stderr = cap_text(result.stderr.strip(), 2000)
    message = f"code failed: {failure}" + (f"\n{stderr}" if stderr else "")
    retryable = not result.deterministic
    hint = None if retryable else "fix config.code; the same code would fail the same way again"
    if result.timed_out:
        return CodeTimeout(message, timeout_s=result.limits.wall_s)
    return CodeFailed(message, retryable=retryable, hint=hint)


def _json_result(stdout: str, schema: dict[str, Any] | None) -> str:
    if not stdout.strip():
        raise OutputError("code printed nothing; it must print its result as JSON", retryable=False)
    try:
        value = loads_json(stdout)  # NaN, Infinity and runaway nesting are not JSON results
    except ValueError as exc:
        raise OutputError(
            f"code output is not one JSON value ({exc}): {cap_text(stdout, 300)!r}",
            retryable=False,
        ) from None
    if schema is not None:
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=str)
        if errors:
            path = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
            raise OutputError(
                f"code output does not fit the output schema at {path}: {errors[0].message}",
                retryable=False,
            )
    return utf8_safe(json.dumps(value, ensure_ascii=False))  # the code's key order kept
