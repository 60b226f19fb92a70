"""`swarm plan`, run in-process: printed and written plans, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import swarm.cli.planner_cmds as planner_cmds
from planners.prompt import read_prompt
from swarm.providers.base import ModelRequest, Provider
from swarm.validation import validate_file
from tests.fakes import ScriptedProvider
from tests.planners.conftest import CliRunner
from tests.planners.fakes import GOOD, answering

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def use_provider(monkeypatch: pytest.MonkeyPatch, provider: Provider) -> None:
    monkeypatch.setattr(planner_cmds, "make_provider", lambda name, **_: provider)


def test_plan_prints_a_readable_plan_one_task_per_line(cli: CliRunner) -> None:
    result = cli("plan", "Compare heat pumps and gas boilers", "--provider", "sim")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["goal"] == "[simulated plan] Compare heat pumps and gas boilers"
    task_lines = [line for line in result.out.splitlines() if line.lstrip().startswith('{"id"')]
    assert len(task_lines) == len(data["tasks"]) > 5
    assert "simulated" in result.err


def test_plan_writes_a_file_that_validates_and_loads_back(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = cli("plan", "Water policy in Chile", "-o", out, "--provider", "sim")
    assert result.code == 0, result.err
    assert result.out.startswith(f"wrote {out}: ") and "(simulated plan)" in result.out
    printed = cli("plan", "Water policy in Chile", "--provider", "sim").out
    assert out.read_text(encoding="utf-8") == printed
    plan = validate_file(out)
    assert plan.goal.endswith("Water policy in Chile")
    assert cli("validate", out).code == 0


def test_plan_json_is_one_object(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = cli("plan", "g", "--provider", "sim", "--json", "--max-tasks", "7", "-o", out)
    assert result.code == 0
    summary = json.loads(result.out)
    assert summary["ok"] and summary["simulated"] and summary["output"] == str(out)
    assert summary["tasks"] == len(summary["plan"]["tasks"]) <= 7
    assert out.exists()


def test_max_tasks_reaches_the_prompt(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = answering(GOOD)
    use_provider(monkeypatch, provider)
    assert cli("plan", "g", "--max-tasks", "12").code == 0
    facts = read_prompt(provider.calls[0].prompt)
    assert facts is not None and facts.limits.max_tasks == 12


def test_an_unrepairable_plan_exits_2(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    use_provider(monkeypatch, answering("I'd rather not."))
    result = cli("plan", "g")
    assert result.code == 2
    assert "after 3 attempts" in result.err and "prose only" in result.err
    assert result.out == ""
    as_json = cli("plan", "g", "--json")
    assert as_json.code == 2
    assert json.loads(as_json.out)["ok"] is False


def test_images_are_checked_and_passed_as_absolute_paths(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provider = answering(GOOD)
    use_provider(monkeypatch, provider)
    (tmp_path / "chart.png").write_bytes(PNG)
    monkeypatch.chdir(tmp_path)
    url = "https://example.com/a.png"
    assert cli("plan", "g", "--image", "chart.png", "--image", url).code == 0
    assert provider.calls[0].images == (str(tmp_path / "chart.png"), url)
    missing = cli("plan", "g", "--image", "nope.png")
    assert missing.code == 2 and "no such file" in missing.err
    (tmp_path / "notes.txt").write_text("hello")
    assert cli("plan", "g", "--image", "notes.txt").code == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("plan", "   "), "the goal is empty"),
        (("plan", "g", "--provider", "nope"), "unknown provider"),
        (("plan", "g", "--max-tasks", "0"), "max-tasks"),
    ],
)
def test_bad_input_exits_2(cli: CliRunner, args: tuple[str, ...], words: str) -> None:
    result = cli(*args)
    assert result.code == 2 and words in result.err


def test_an_unwritable_output_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("plan", "g", "--provider", "sim", "-o", tmp_path / "no" / "such" / "p.json")
    assert result.code == 2 and "cannot write the plan" in result.err


def test_the_provider_is_closed(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []

    class Closing(ScriptedProvider):
        async def aclose(self) -> None:
            closed.append(True)

    async def script(request: ModelRequest) -> str:
        return GOOD

    provider = Closing(script=script)
    use_provider(monkeypatch, provider)
    assert cli("plan", "g").code == 0 and closed == [True]


def test_a_simulated_plan_runs_to_the_end(cli: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert cli("plan", "Rooftop solar for schools", "-o", plan, "--max-tasks", "20").code == 0
    kinds = {task["kind"] for task in json.loads(plan.read_text(encoding="utf-8"))["tasks"]}
    assert "llm" in kinds
    run = cli(
        "execute",
        plan,
        "--db",
        tmp_path / "swarm.db",
        "--artifacts-dir",
        tmp_path / "runs",
        "--json",
        "--quiet",
    )
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    assert summary["status"] == "succeeded" and summary["simulated"]
