"""The ``code`` kind's checks: Python source that compiles, within the size an action takes,
a JSON Schema if it has one, and the sandbox's limits."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import Number, number_problems, schema_problems

RULES = {
    "timeout_s": Number(False, 0.1, 3600),
    "memory_mb": Number(True, 64, 65_536),
}
MAX_CODE_CHARS = 100_000
"""The longest Python a ``code`` task or an agent's ``python`` action may carry: source passed
to the sandbox on its command line must stay well under the kernel's 128 KiB limit for one
argument."""


def check(spec: TaskFields) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = schema_problems(spec) + number_problems(spec, RULES, {"code"})
    code = spec.config.get("code")
    if not isinstance(code, str) or not code.strip():
        problems.append(Problem(where, "config.code", "a code task needs Python source here"))
    elif len(code) > MAX_CODE_CHARS:
        problems.append(Problem(where, "config.code", f"longer than {MAX_CODE_CHARS} characters"))
    else:
        try:
            compile(code, f"<task {spec.id}>", "exec")
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            at = f" (line {line})" if line else ""
            problems.append(Problem(where, "config.code", f"does not compile{at}: {exc}"))
    return problems
