"""The fresh-machine contract: the README's set-up commands, the lock they use, and the lowest
versions CI tests, kept in step with pyproject.toml."""

from __future__ import annotations

import re
import runpy
import tomllib
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DEV_TOOLS = ("pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "ruff", "mypy")


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return pins


def _floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors: dict[str, str] = {}
    for spec in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9.]+).*", spec.split(";")[0])
        assert match, f"dependency {spec!r} has no lower bound"
        floors[match[1].lower()] = match[2]
    return floors


def test_the_readme_installs_with_the_lock_and_then_runs_the_tests() -> None:
    setup = runpy.run_path(str(ROOT / ".ci" / "readme_setup.py"))["setup_commands"]
    commands = setup((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2
    install, test = commands
    assert install.startswith('pip install -e ".[dev]" -c constraints.txt && ')
    assert "swarm execute examples/" in install
    assert test == "python -m pytest"


def test_the_lock_pins_every_dev_tool_and_every_runtime_dependency() -> None:
    pins = _pins(ROOT / "constraints.txt")
    for name in (*DEV_TOOLS, *_floors()):
        assert name in pins, f"constraints.txt does not pin {name}: run .ci/lock"


def test_the_lowest_versions_ci_tests_are_the_floors_of_pyproject() -> None:
    lowest = {name: Version(v) for name, v in _pins(ROOT / ".ci" / "lowest.txt").items()}
    floors = {name: Version(v) for name, v in _floors().items()}
    assert lowest == floors, "keep .ci/lowest.txt equal to the floors in pyproject.toml"
