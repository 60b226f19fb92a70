"""`swarm approvals`, `swarm approve`, `swarm reject`: decide approval gates from any process.

Built on :class:`swarm.Swarm`. A decision is written at once (compare-and-set, once only: a
second one exits 6); a live driver applies it within a second, a stopped run at its next
`swarm resume`. Text from the run (prompts, upstream results) is untrusted: shown with control
characters replaced and cut short.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from swarm.cli.app import app
from swarm.cli.inspect_text import clean, stdout_console, timestamp
from swarm.cli.options import DbOption, JsonOption, existing_db

if TYPE_CHECKING:
    from swarm.api_types import ApprovalDecision, PendingApproval

INPUT_CHARS = 300
"""How much of each upstream result `swarm approvals` shows (--json gives them whole)."""

RunArg = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run.")]
TaskArg = Annotated[str, typer.Argument(metavar="TASK_ID", help="The waiting task.")]
NoteOption = Annotated[
    str | None, typer.Option(help="Why: recorded with the decision (and a rejection's error).")
]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: the OS user).")]


@app.command("approvals")
def approvals_command(
    run_id: Annotated[
        str | None, typer.Argument(metavar="[RUN_ID]", help="Only this run's approvals.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the tasks waiting for approval, with the upstream results to decide on."""
    import anyio

    from swarm.api import Swarm

    path = existing_db(db, run_id)

    async def main() -> list[PendingApproval]:
        async with Swarm(path) as sw:
            return await sw.approvals(run_id)

    pending = anyio.run(main)
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in pending]))
        return
    console = stdout_console()
    if not pending:
        console.print("no approvals are waiting", markup=False)
        return
    for p in pending:
        title = f" ({clean(p.title, 80)})" if p.title else ""
        console.print(
            f"run {p.run_id} [{p.run_status}] task {clean(p.task_id)}{title}, "
            f"waiting since {timestamp(p.requested_at)}",
            markup=False,
        )
        if p.prompt:
            console.print(f"  asks: {clean(p.prompt, 500)}", markup=False)
        for dep, result in p.inputs.items():
            shown = "(no result)" if result is None else clean(result, INPUT_CHARS)
            console.print(f"  {clean(dep)}: {shown}", markup=False)
        console.print(
            f"  decide: swarm approve {p.run_id} {p.task_id} | swarm reject {p.run_id} "
            f"{p.task_id} --note WHY",
            markup=False,
            soft_wrap=True,
        )


@app.command("approve")
def approve_command(
    run_id: RunArg,
    task_id: TaskArg,
    note: NoteOption = None,
    by: ByOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a waiting task: it runs (now if a driver goes, else at `swarm resume`)."""
    _decide(db, run_id, task_id, "approve", note, by, as_json)


@app.command("reject")
def reject_command(
    run_id: RunArg,
    task_id: TaskArg,
    note: NoteOption = None,
    by: ByOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a waiting task: it fails with the note and its descendants are skipped."""
    _decide(db, run_id, task_id, "reject", note, by, as_json)


def _decide(
    db: str | None,
    run_id: str,
    task_id: str,
    verb: str,
    note: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    import anyio

    from swarm.api import Swarm

    path = existing_db(db, run_id)

    async def main() -> ApprovalDecision:
        async with Swarm(path) as sw:
            if verb == "approve":
                return await sw.approve(run_id, task_id, note=note, by=by)
            return await sw.reject(run_id, task_id, note=note, by=by)

    made = anyio.run(main)
    if as_json:
        typer.echo(json.dumps(asdict(made)))
        return
    stdout_console().print(
        f"run {made.run_id}: task {clean(made.task_id)} {made.decision} by "
        f"{clean(made.decided_by or '?')}; a live driver applies it within a second, "
        f"else `swarm resume {made.run_id}` does",
        markup=False,
        soft_wrap=True,
    )
