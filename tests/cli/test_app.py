"""The app itself: start-up imports, help text, --version/-h, and the one JSON error object."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swarm.cli import app as app_module
from swarm.cli.app import LAZY_COMMANDS, build
from tests.cli.conftest import CliRunner

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "sqlalchemy",
    "aiosqlite",
    "httpx",
    "swarm.runtime",
    "swarm.api",
    "swarm.store.engine",
    "swarm.store.store",
    "swarm.store.writer",
)


def _imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def test_importing_the_app_imports_no_store_runtime_or_api() -> None:
    assert _heavy(_imported_after("import swarm.cli.app")) == []


def test_swarm_help_imports_no_store_runtime_api_or_pydantic() -> None:
    modules = _imported_after(
        """
        import contextlib, io
        from swarm.cli.app import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--help"]) == 0
        """
    )
    assert _heavy(modules) == []
    assert "pydantic" not in modules and "networkx" not in modules
    assert _commands(modules) == []  # the list comes from the summaries in app.py


def _commands(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith("swarm.cli.") and m.endswith("_cmds"))


def test_validate_imports_only_what_it_uses(tmp_path: Path) -> None:
    plan = tmp_path / "p.json"
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(300)]
    plan.write_text(json.dumps({"goal": "g", "tasks": tasks}))
    modules = _imported_after(
        f"""
        import contextlib, io
        from swarm.cli.app import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["validate", {str(plan)!r}]) == 0
        """
    )
    assert _heavy(modules) == []
    # structural checks need no graph library, plain llm tasks no JSON Schema validator
    assert not {m.split(".")[0] for m in modules} & {"networkx", "jsonschema", "anyio"}
    assert _commands(modules) == ["swarm.cli.plan_cmds"]


def test_every_command_is_listed_with_its_real_summary_and_module() -> None:
    full = build(None)  # every module imported
    assert set(LAZY_COMMANDS) == set(full.commands)
    for name, (module, summary) in LAZY_COMMANDS.items():
        real = full.commands[name]
        assert (real.help or "").split("\n\n")[0] == summary, name
        inner = [*getattr(real, "commands", {}).values()] or [real]  # a group: its commands'
        assert inner[0].callback.__module__ == f"swarm.cli.{module}", name
    assert list(build([]).commands) == list(full.commands)  # `swarm --help` lists them all


def test_version_and_short_help(cli: CliRunner) -> None:
    from swarm import __version__

    version = cli("--version")
    assert version.code == 0 and version.out.strip() == f"swarm {__version__}"
    short = cli("-h")
    assert short.code == 0 and "Commands" in short.out and "validate" in short.out
    assert cli("validate", "-h").out == cli("validate", "--help").out


def _every_help(cli: CliRunner) -> dict[str, str]:
    group = build(None)
    helps = {"": cli("--help").out}
    for name, command in group.commands.items():
        helps[name] = cli(name, "--help").out
        for sub in getattr(command, "commands", {}):
            helps[f"{name} {sub}"] = cli(name, sub, "--help").out
    return helps


def test_help_has_no_type_tags_and_no_double_backticks(cli: CliRunner) -> None:
    for name, text in _every_help(cli).items():
        assert "<bool>" not in text and "<str>" not in text and "<path>" not in text, name
        assert "``" not in text, name
        assert "<int" not in text and "<float" not in text, name


def test_run_id_help_says_what_each_command_does_with_it(cli: CliRunner) -> None:
    helps = _every_help(cli)
    assert "The run to cancel." in helps["cancel"]
    assert "The run to export." in helps["export"]
    assert "The run to report on." in helps["report"]
    assert "The run to inspect." in helps["show"]


def test_plan_takes_the_model_flags_execute_has() -> None:
    group = build(None)

    def flags(name: str) -> set[str]:
        return {opt for p in group.commands[name].params for opt in p.opts}

    wanted = {"--model", "--base-url", "--reasoning-effort", "--rate-limit"}
    assert wanted <= flags("plan") and wanted <= flags("execute")


def test_max_tasks_has_one_range_for_plan_and_run(cli: CliRunner) -> None:
    from swarm.cli.options import MAX_TASKS_LIMIT

    group = build(None)
    ranges = set()
    for name in ("plan", "run"):
        [param] = [p for p in group.commands[name].params if p.name == "max_tasks"]
        ranges.add((param.min, param.max, param.default))  # type: ignore[attr-defined]
    assert ranges == {(1, MAX_TASKS_LIMIT, 300)}


def test_provider_names_in_help_are_the_factorys() -> None:
    from planners import PlannerSettings
    from swarm.cli.options import DEFAULT_MAX_TASKS, PROVIDER_NAMES
    from swarm.providers.factory import PROVIDERS

    assert PROVIDER_NAMES == PROVIDERS
    assert PlannerSettings().max_tasks == DEFAULT_MAX_TASKS


# -- --json: one object, errors included ------------------------------------------------------


def _one_object(text: str) -> dict[str, object]:
    data = json.loads(text)  # the whole of stdout is one JSON object
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    "args",
    [
        ["show", "nope"],
        ["runs"],
        ["cancel", "nope"],
        ["export", "nope"],
        ["report", "nope"],
        ["artifacts", "nope"],
    ],
)
def test_an_input_error_with_json_is_one_json_object(
    cli: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    result = cli(*args, "--db", tmp_path / "missing.db", "--json")
    assert result.code == 2
    error = _one_object(result.out)["error"]
    assert isinstance(error, dict)
    assert error["exit_code"] == 2 and error["type"] in ("ConfigError", "RunNotFound")
    assert "missing.db" in str(error["message"])


def test_a_usage_error_with_json_is_one_json_object(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("runs", "--limit", "0", "--json", "--db", tmp_path / "x.db")
    assert result.code == 2
    error = _one_object(result.out)["error"]
    assert isinstance(error, dict) and error["type"] == "UsageError"
    assert "--limit" in str(error["message"])


def test_an_invalid_plan_with_json_is_one_json_object(cli: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "bad.json"
    plan.write_text('{"goal": "g", "tasks": [{"id": "a", "kind": "llm", "dep": []}]}')
    for command in ("validate", "execute"):
        result = cli(command, plan, "--json")
        assert result.code == 2, command
        data = _one_object(result.out)
        error = data["error"]
        assert isinstance(error, dict) and error["type"] == "PlanError", command
        assert any(p["field"] == "dep" for p in error["problems"]), command  # type: ignore[index, union-attr]


def test_without_json_errors_go_to_stderr(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("show", "nope", "--db", tmp_path / "missing.db")
    assert result.code == 2 and result.out == "" and "error:" in result.err


def test_wants_json_stops_at_a_double_dash() -> None:
    assert app_module.wants_json(["runs", "--json"])
    assert not app_module.wants_json(["run", "--", "--json"])


# -- off a terminal: no wrapping --------------------------------------------------------------


def test_the_run_summary_off_a_terminal_does_not_wrap(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS", "SWARM_DB", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    plan = tmp_path / "p.json"
    long_goal = "compare the vector databases " * 6
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(400)]
    plan.write_text(json.dumps({"goal": long_goal, "tasks": tasks}))
    result = cli("execute", plan, "--db", tmp_path / "s.db", "--quiet")
    assert result.code == 0, result.err
    [usage] = [line for line in result.out.splitlines() if "makespan" in line]
    assert "tokens" in usage and "est. cost $" in usage  # one line, however long
    assert len(usage) > 80
