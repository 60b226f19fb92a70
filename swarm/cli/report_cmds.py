"""`swarm report RUN_ID -o FILE`: write the run's self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from swarm.cli.app import app
from swarm.cli.inspect_cmds import check_output, open_queries, write_output
from swarm.cli.options import DbOption, JsonOption

if TYPE_CHECKING:
    from swarm.report import ReportInput

ReportRunId = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run to report on.", show_default=False)
]


@app.command("report")
def report_command(
    run_id: ReportRunId,
    db: DbOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The HTML file to write (default: swarm-report-RUN_ID.html)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One HTML file about a run, with no network needs: DAG, timeline, metrics, tasks, files."""
    import anyio

    from swarm.report import collect, render_report

    target = output if output is not None else Path(f"swarm-report-{run_id}.html")
    target = check_output(target)

    async def main() -> ReportInput:
        async with open_queries(db, run_id) as q:
            return await collect(q, run_id)

    written = write_output(target, render_report(anyio.run(main), target.parent))
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "report": str(written)}))
    else:
        typer.echo(f"wrote {written}")
