"""Commands that read a plan without running it: `swarm validate`, `swarm graph`, `swarm schema`.

They write plain text to stdout (never rich markup: task labels such as ``a [llm]`` would be
read as markup tags) so their output can be piped into files, Graphviz or a Mermaid viewer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from swarm.cli.app import EXIT_INPUT, app, error_json
from swarm.errors import ConfigError, PlanError

if TYPE_CHECKING:
    import networkx as nx

    from swarm.dag import Dag
    from swarm.plan import Plan

PlanArg = Annotated[
    Path, typer.Argument(metavar="PLAN", help="The plan file (JSON).", show_default=False)
]


class GraphFormat(StrEnum):
    tree = "tree"
    mermaid = "mermaid"
    dot = "dot"


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
        from swarm.dag import Dag  # successor lists: no networkx for `swarm validate`

        graph = Dag(plan)
        kinds = Counter(spec.kind for spec in plan.tasks)
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


@app.command()
def validate(
    plan_file: PlanArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result (or every problem) as JSON.")
    ] = False,
) -> None:
    """Check a plan file: its fields, its DAG, each task kind's own rules, and its budgets.

    Every problem is listed, each with the task and field it is in; a plan that cannot fit its
    step pool, token or dollar budget even at its cheapest is a problem too (naming the budget
    field to raise). Exits 2 if there are any.
    """
    from swarm.validation import check_budget, validate_file

    try:
        plan = check_budget(validate_file(plan_file), source=str(plan_file))
    except PlanError as exc:
        if not as_json:
            raise
        typer.echo(problems_json(exc))
        raise typer.Exit(EXIT_INPUT) from None
    summary = Summary.of(plan)
    typer.echo(summary.json() if as_json else summary.line(str(plan_file)))


@app.command()
def graph(
    plan_file: PlanArg,
    fmt: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="Output format.")
    ] = GraphFormat.tree,
) -> None:
    """Draw a plan's DAG: a text tree (critical path marked *), Mermaid or Graphviz dot."""
    from swarm.dag import build_graph, render_dot, render_mermaid, render_tree
    from swarm.validation import validate_file

    plan = validate_file(plan_file)
    dag = build_graph(plan)
    if fmt is GraphFormat.mermaid:
        typer.echo(render_mermaid(dag))
    elif fmt is GraphFormat.dot:
        typer.echo(render_dot(dag))
    else:
        on_path = set(unit_critical_path(dag))
        labels = {
            node: f"{node} [{dag.nodes[node]['kind']}]" + (" *" if node in on_path else "")
            for node in dag
        }
        typer.echo(render_tree(dag, labels))


@app.command()
def schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file instead of stdout."),
    ] = None,
) -> None:
    """Print the JSON Schema of plan files (for editors and for planners' structured output)."""
    from swarm.plan import plan_json_schema

    text = json.dumps(plan_json_schema(), indent=2)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the schema to {output}: {exc.strerror}",
            hint="check that the directory exists and is writable",
        ) from None
