"""Commands that read a plan without running it: `swarm validate`, `swarm graph`, `swarm schema`.

They write plain text to stdout (never rich markup: task labels such as ``a [llm]`` would be
read as markup tags) so their output can be piped into files, Graphviz or a Mermaid viewer.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from swarm.cli.app import app
from swarm.cli.plan_summary import unit_critical_path
from swarm.cli.plan_summary import validate as validate_plan
from swarm.errors import ConfigError

PlanArg = Annotated[
    Path, typer.Argument(metavar="PLAN", help="The plan file (JSON).", show_default=False)
]


class GraphFormat(StrEnum):
    tree = "tree"
    mermaid = "mermaid"
    dot = "dot"


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
    code = validate_plan(plan_file, as_json=as_json)
    if code:
        raise typer.Exit(code)


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
