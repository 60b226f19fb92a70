"""The fast entry (`swarm --help`, `--version`, `validate` without typer or rich) answers exactly
as the typer app does for the same argv, declines what it does not read as click would, and
imports none of the libraries it exists to avoid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swarm.cli import root_help
from swarm.cli.app import main as app_main
from swarm.cli.fast import serve

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = [root_help.MIN_WIDTH, 45, 50, 57, 61, 70, 79, 80, 81, 100, 120, 133, 160, 200]
AVOIDED = {"typer", "click", "rich", "sqlalchemy", "networkx", "jsonschema", "anyio", "httpx"}
MODEL_PACKAGES = {
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
}
"""What the plan models import: `swarm validate` loads them only to word a plan's problems."""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in root_help.RICH_ENVIRONMENT}
    env.pop("COLUMNS", None)
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _typer_helps(*, color: bool) -> dict[int, str]:
    """typer's root help at each of :data:`WIDTHS`, drawn by the app in a fresh interpreter
    (typer reads the colour settings from the environment at import)."""
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, os
        from swarm.cli.app import main
        helps = {{}}
        for width in {WIDTHS!r}:
            os.environ["COLUMNS"] = str(width)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert main(["--help"]) == 0
            helps[width] = out.getvalue()
        print(json.dumps(helps))
        """
    )
    env = _clean_env(**({"FORCE_COLOR": "1"} if color else {}))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return {int(k): v for k, v in json.loads(done.stdout).items()}


@pytest.mark.parametrize("color", [False, True], ids=["plain", "coloured"])
def test_the_root_help_is_typers_byte_for_byte(color: bool) -> None:
    if not root_help.drawn_for_installed():  # e.g. the lowest-versions CI run
        assert root_help.console(sys.stdout) is None  # the typer app draws it instead
        return
    for width, expected in _typer_helps(color=color).items():
        assert root_help.render(root_help.Console(width, color)) == expected, width


def test_the_versions_drawn_for_are_the_locked_ones() -> None:
    locked = Path(__file__).parents[2] / "constraints.txt"
    pins = dict(line.split("==", 1) for line in locked.read_text().splitlines() if "==" in line)
    assert {f"{n}-{pins[n].strip()}" for n in ("rich", "typer", "click")} == set(
        root_help.DRAWN_FOR
    )


def test_the_console_is_riches_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(root_help, "drawn_for_installed", lambda: True)
    for name in root_help.RICH_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "97")

    class Tty:
        def isatty(self) -> bool:
            return True

    console = root_help.console(Tty())  # type: ignore[arg-type]
    assert console is not None and (console.width, console.color) == (97, True)
    monkeypatch.setenv("COLUMNS", str(root_help.MIN_WIDTH - 1))
    assert root_help.console(Tty()) is None  # type: ignore[arg-type]
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "dumb")
    assert root_help.console(Tty()) is None  # type: ignore[arg-type]
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert root_help.console(Tty()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [["--help"], ["-h"], [], ["--version"]])
def test_the_entry_answers_the_root_as_the_app(args: list[str]) -> None:
    """The console script's own process, fast entry and typer app, on the same argv."""
    env = _clean_env(COLUMNS="90")
    fast = subprocess.run(
        [sys.executable, "-m", "swarm.cli", *args], capture_output=True, text=True, env=env
    )
    app = subprocess.run(
        [sys.executable, "-c", "from swarm.cli.app import run; run()", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (fast.returncode, fast.stdout, fast.stderr) == (app.returncode, app.stdout, app.stderr)
    assert fast.stdout  # help or the version, not an empty answer that happens to agree


def _plans(folder: Path) -> dict[str, Path]:
    ok = folder / "ok.json"
    tasks = [{"id": "root", "kind": "llm", "prompt": "Outline."}]
    tasks += [{"id": f"t{i}", "kind": "llm", "prompt": "x", "deps": ["root"]} for i in range(30)]
    ok.write_text(json.dumps({"goal": "g", "tasks": tasks}))
    bad = folder / "bad.json"
    bad.write_text('{"goal": "g", "tasks": [{"id": "a", "kind": "llm", "dep": []}]}')
    over = folder / "over.json"
    many = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(20)]
    over.write_text(json.dumps({"goal": "g", "tasks": many, "budget": {"max_steps": 5}}))
    cycle = folder / "cycle.json"
    loop = [
        {"id": "a", "kind": "llm", "prompt": "x", "deps": ["b"]},
        {"id": "b", "kind": "llm", "prompt": "x", "deps": ["a"]},
    ]
    cycle.write_text(json.dumps({"goal": "g", "tasks": loop}))
    broken = folder / "broken.json"
    broken.write_text('{"goal": ')
    return {"ok": ok, "bad": bad, "over": over, "cycle": cycle, "broken": broken}


@pytest.mark.parametrize("plan", ["ok", "bad", "over", "cycle", "broken", "missing"])
@pytest.mark.parametrize("flags", [[], ["--json"], ["--json", "first"]])
def test_validate_answers_as_the_app(
    plan: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(_plans(tmp_path).get(plan, tmp_path / "missing.json"))
    args = ["validate", "--json", path] if flags[1:] else ["validate", path, *flags]
    fast_code = serve(args)
    fast = capsys.readouterr()
    app_code = app_main(args)
    app = capsys.readouterr()
    assert fast_code is not None
    assert (fast_code, fast.out, fast.err) == (app_code, app.out, app.err)
    assert (fast_code == 0) is (plan == "ok")
    if flags:
        assert json.loads(fast.out)["ok"] is (plan == "ok")  # one JSON object, errors too


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["validate", "-h"],
        ["validate", "--help"],
        ["validate", "a.json", "b.json"],
        ["validate", "--jsn", "a.json"],
        ["validate", "--json=1", "a.json"],
        ["validate", "--json", "--json", "a.json"],
        ["validate", "--", "a.json"],
        ["validate", "-"],
        ["--help", "validate"],
        ["--version", "--help"],
        ["execute", "a.json"],
        ["runs"],
        ["graph", "a.json"],
    ],
)
def test_the_entry_leaves_other_argv_to_the_app(args: list[str]) -> None:
    assert serve(args) is None  # click's usage errors, its help, the other commands


def _entry_modules(args: list[str]) -> tuple[int, set[str]]:
    """Exit code and modules loaded when the console script's ``main`` runs ``args``."""
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        sys.argv = ["swarm", *{args!r}]
        from swarm.cli.__main__ import main
        code = None
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                main()
            except SystemExit as exc:
                code = exc.code
        print(json.dumps([code, sorted(sys.modules)]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_clean_env(), check=True
    )
    code, modules = json.loads(done.stdout.splitlines()[-1])
    return code, set(modules)


def _packages(modules: set[str]) -> set[str]:
    tops = {m.split(".")[0] for m in modules}
    return {t for t in tops if t not in sys.stdlib_module_names and not t.startswith("_")}


def test_help_imports_no_library_at_all() -> None:
    code, modules = _entry_modules(["--help"])
    assert code == 0
    if not root_help.drawn_for_installed():  # other versions than the lock's: typer draws it
        assert "typer" in _packages(modules)
        return
    assert _packages(modules) == {"swarm"}
    assert "typing" not in modules and "dataclasses" not in modules  # a tenth of its start


@pytest.mark.parametrize("name", ["ok", "mixed", "research"])
def test_a_valid_plan_is_validated_without_any_library(name: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_cli_startup import mixed_plan_file

    plans = {
        **_plans(tmp_path),
        "mixed": mixed_plan_file(tmp_path, 300),  # every built-in kind, output schemas, a map
        "research": ROOT / "examples" / "research-swarm.json",
    }
    code, modules = _entry_modules(["validate", str(plans[name])])
    assert code == 0
    assert _packages(modules) == {"swarm", "workers"}
    # nor the plug-ins' entry points (every package's metadata): the plan names built-in kinds
    assert "importlib.metadata" not in modules
    assert not [
        m
        for m in modules
        if m.startswith("workers.") and "rules" not in m and m != "workers.registry"
    ]  # the kinds' rules, never their workers


def test_an_invalid_plan_imports_the_plan_models_to_word_it(tmp_path: Path) -> None:
    code, modules = _entry_modules(["validate", str(_plans(tmp_path)["bad"]), "--json"])
    assert code == 2
    assert _packages(modules) <= {"swarm", "workers", *MODEL_PACKAGES}
    assert not _packages(modules) & AVOIDED


@pytest.mark.parametrize("module", ["swarm", "swarm.cli"])
def test_python_dash_m_is_the_console_script(module: str, tmp_path: Path) -> None:
    plan = _plans(tmp_path)["ok"]
    for args, code in ((["--version"], 0), (["validate", str(plan)], 0), (["nope"], 2)):
        done = subprocess.run(
            [sys.executable, "-m", module, *args], capture_output=True, text=True, env=_clean_env()
        )
        assert done.returncode == code, (module, args, done.stderr)
    assert "No such command 'nope'" in done.stderr  # the typer app answered it
