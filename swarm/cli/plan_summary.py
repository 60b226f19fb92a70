"""What `swarm validate` prints: the one-line (or JSON) summary of a valid plan and the JSON
list of an invalid one's problems. Standard library only, for the fast entry's `validate`."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from swarm.cli.answers import echo, error_json
from swarm.errors import PlanError

EXIT_INPUT = 2

if TYPE_CHECKING:
    import networkx as nx

    from swarm.dag import Dag
    from swarm.plan import Plan
    from swarm.validation import PlanDoc


def unit_critical_path(graph: nx.DiGraph[str] | Dag) -> list[str]:
    """The critical path counting every task as one unit of work (plans carry no estimates)."""
    from swarm.dag import critical_path

    return critical_path(graph, {node: 1.0 for node in graph})


@dataclass(frozen=True, slots=True)
class Summary:
    """What `swarm validate` reports about a valid plan."""

    tasks: int
    edges: int
    kinds: dict[str, int]
    critical_path: int
    """Tasks on the critical path: the fewest rounds the run needs, however wide it goes."""

    @classmethod
    def of(cls, plan: Plan) -> Summary:
        return cls._of([(spec.id, spec.kind, spec.deps) for spec in plan.tasks])

    @classmethod
    def of_doc(cls, doc: PlanDoc) -> Summary:
        """The summary of a checked plan's JSON document (no plan models)."""
        return cls._of([(task["id"], task["kind"], task["deps"]) for task in doc["tasks"]])

    @classmethod
    def _of(cls, tasks: list[tuple[str, str, list[str]]]) -> Summary:
        from swarm.dag import Dag  # successor lists: no networkx for `swarm validate`

        graph = Dag.of_deps((task, deps) for task, _, deps in tasks)
        kinds = Counter(kind for _, kind, _ in tasks)
        return cls(
            tasks=len(graph),
            edges=sum(len(children) for children in graph.succ.values()),
            kinds=dict(sorted(kinds.items())),
            critical_path=len(unit_critical_path(graph)),
        )

    def line(self, source: str) -> str:
        kinds = ", ".join(f"{kind}={n}" for kind, n in self.kinds.items())
        return (
            f"{source}: ok, {_plural(self.tasks, 'task')}, {_plural(self.edges, 'edge')}, "
            f"kinds {kinds}, critical path {_plural(self.critical_path, 'task')}"
        )

    def json(self) -> str:
        return json.dumps({"ok": True, **asdict(self)}, indent=2)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def problems_json(error: PlanError) -> str:
    """The JSON answer for an invalid plan: the problems at the top (as `swarm validate --json`
    has always printed them) and the ``error`` object every failing ``--json`` command prints."""
    problems = [{"where": p.where, "field": p.field, "message": p.message} for p in error.problems]
    data = {"ok": False, "source": error.source, "problems": problems}
    data["error"] = json.loads(error_json(error, error.exit_code))["error"]
    return json.dumps(data, indent=2)


def validate(path: Path, *, as_json: bool) -> int:
    """`swarm validate PLAN [--json]`: print the summary (or, with ``as_json``, every problem
    as JSON) and return the exit code; without ``as_json`` an invalid plan's
    :class:`PlanError` propagates, for the caller to print as every error is."""
    from swarm.validation import budget_problems, check_file

    try:
        doc = check_file(path)
        problems = budget_problems(doc)
        if problems:
            raise PlanError(str(path), problems)
    except PlanError as exc:
        if not as_json:
            raise
        echo(problems_json(exc))
        return EXIT_INPUT
    summary = Summary.of_doc(doc)
    echo(summary.json() if as_json else summary.line(str(path)))
    return 0
