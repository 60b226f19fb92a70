"""The command table: every command's name, module and one-line summary, in the order
``swarm --help`` lists them. Standard library only: the fast entry (:mod:`swarm.cli.fast`)
prints the root help from it without importing typer or rich, and the typer app
(:mod:`swarm.cli.app`) builds its stand-ins and imports a command's module from it."""

from __future__ import annotations

ROOT_HELP = "Run agent swarms: plans as DAGs, executed durably over SQLite."
HELP_OPTIONS = ["-h", "--help"]
VERSION_HELP = "Print the version and exit."
HELP_HELP = "Show this message and exit."

COMMAND_ORDER = (
    "validate",
    "graph",
    "schema",
    "plan",
    "execute",
    "run",
    "resume",
    "retry",
    "runs",
    "show",
    "events",
    "artifacts",
    "cancel",
    "approvals",
    "approve",
    "reject",
    "export",
    "report",
    "dashboard",
    "db",
)
"""How ``swarm --help`` lists the commands: from reading a plan, to running, to inspecting."""
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "plan_cmds",
        "Check a plan file: its fields, its DAG, each task kind's own rules, and its budgets.",
    ),
    "graph": (
        "plan_cmds",
        "Draw a plan's DAG: a text tree (critical path marked *), Mermaid or Graphviz dot.",
    ),
    "schema": (
        "plan_cmds",
        "Print the JSON Schema of plan files (for editors and for planners' structured output).",
    ),
    "plan": (
        "planner_cmds",
        "Turn GOAL into a plan with the planner model (Kimi K2.6; `--provider sim` offline).",
    ),
    "execute": (
        "run_cmds",
        "Run a plan: validate it, record it in the database, and execute its DAG.",
    ),
    "resume": (
        "run_cmds",
        "Continue a run from the database alone; finished tasks are not run again.",
    ),
    "retry": (
        "retry_cmds",
        "Run failed tasks again (all, or those named) with their skipped descendants.",
    ),
    "run": (
        "submit_cmds",
        "Plan GOAL with the planner model and run the plan while it is being written.",
    ),
    "runs": (
        "inspect_cmds",
        "List recent runs: goal, status, task counts, makespan, tokens and cost.",
    ),
    "show": (
        "inspect_cmds",
        "A run's tasks (status, attempts, steps, tokens, cost, duration), metrics and DAG.",
    ),
    "events": (
        "inspect_cmds",
        "The run's event log, oldest first; --follow tails a live run from any process.",
    ),
    "artifacts": ("inspect_cmds", "The files the run's tasks wrote, with their paths on disk."),
    "cancel": (
        "inspect_cmds",
        "Ask the process driving a run to cancel it; the run stays resumable.",
    ),
    "approvals": (
        "approval_cmds",
        "List the tasks waiting for approval, with the upstream results to decide on.",
    ),
    "approve": (
        "approval_cmds",
        "Approve a waiting task: it runs (now if a driver goes, else at `swarm resume`).",
    ),
    "reject": (
        "approval_cmds",
        "Reject a waiting task: it fails with the note and its descendants are skipped.",
    ),
    "export": (
        "inspect_cmds",
        "The whole run as one JSON document: run, plan, metrics, tasks, attempts, steps, events, "
        "artifacts (--json is accepted; the output is always JSON). --format otlp: the run's "
        "OpenTelemetry trace instead, as OTLP/JSON or sent to --endpoint. --sqlite FILE: the run "
        "copied into a SQLite file instead (from PostgreSQL, for the dashboard).",
    ),
    "report": (
        "report_cmds",
        "One HTML file about a run, with no network needs: DAG, timeline, metrics, tasks, files.",
    ),
    "dashboard": (
        "dashboard_cmds",
        "Serve the database on http://127.0.0.1:PORT with Datasette and swarm's dashboards.",
    ),
    "db": ("db_cmds", "Manage the swarm database (a SQLite file or PostgreSQL)."),
}
"""command -> (its module, its one-line help): a command's module is imported only when the
command is invoked (`swarm --help` imports none; a test pins these summaries to the real ones)."""
