"""`swarm report RUN_ID -o FILE`: write the run's self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import anyio
import typer

from swarm.cli.app import app
from swarm.cli.inspect_cmds import RunIdArg, open_queries
from swarm.cli.run_cmds import DbOption, JsonOption
from swarm.errors import ConfigError
from swarm.report import ReportInput, collect, write_report


@app.command("report")
def report_command(
    run_id: RunIdArg,
    db: DbOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The HTML file to write [default: swarm-report-RUN_ID.html]."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One HTML file about a run, with no network needs: DAG, timeline, metrics, tasks, files."""
    target = output if output is not None else Path(f"swarm-report-{run_id}.html")
    if not target.expanduser().absolute().parent.is_dir():
        raise ConfigError(f"cannot write {target}: its folder does not exist")

    async def main() -> ReportInput:
        async with open_queries(db, run_id) as q:
            return await collect(q, run_id)

    written = write_report(anyio.run(main), target)
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "report": str(written)}))
    else:
        typer.echo(f"wrote {written}")
