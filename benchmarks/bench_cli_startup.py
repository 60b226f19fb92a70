"""How long the CLI takes to start: `swarm --help`, `swarm validate` on a 300-task plan, and more.

Each command runs as a fresh subprocess (as a user's shell runs it), a few warm-up runs first,
then ``--runs`` timed runs; the median and the spread are reported, as hyperfine does. The
commands take turns (one run of each, then the next round), so a load that comes and goes on a
shared machine weighs on all of them alike; a baseline of ``python -c pass`` shows what the
interpreter alone costs, and each row's min and median are also given as multiples of the
baseline's.
Rows for the libraries a command may pay for (typer, its rich help, pydantic, the plan models)
show the floors: `--help` and `validate` are served by the fast entry without typer or rich,
so `validate`'s floor is pydantic and the plan models. ``--against DIR`` adds the same commands
run from another checkout (its ``swarm`` first on ``PYTHONPATH``, same venv), e.g. ``main``, for
a before/after in one run.

    python benchmarks/bench_cli_startup.py [--runs 15] [--markdown] [--against ../main]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Timing:
    label: str
    median_s: float
    min_s: float
    max_s: float
    runs: int
    exit_code: int = 0


@dataclass(frozen=True)
class Case:
    label: str
    argv: Sequence[str]
    root: Path = ROOT
    """The checkout whose ``swarm`` runs (first on ``PYTHONPATH``, and the working folder)."""


def time_commands(cases: Sequence[Case], *, runs: int, warmup: int = 3) -> list[Timing]:
    """Wall time of each case as a fresh process, in turns: ``warmup`` rounds, then ``runs``."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples: dict[str, list[float]] = {case.label: [] for case in cases}
    codes: dict[str, int] = dict.fromkeys(samples, 0)
    for i in range(warmup + runs):
        for case in cases:
            env = {**base, "PYTHONPATH": str(case.root)}
            start = time.perf_counter()
            done = subprocess.run(
                case.argv,
                cwd=case.root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if i >= warmup:
                samples[case.label].append(time.perf_counter() - start)
                codes[case.label] = codes[case.label] or done.returncode
    return [
        Timing(label, statistics.median(s), min(s), max(s), runs, codes[label])
        for label, s in samples.items()
    ]


def plan_file(folder: Path, tasks: int) -> Path:
    path = folder / f"plan-{tasks}.json"
    items = [{"id": "root", "kind": "llm", "prompt": "Outline the report."}]
    items += [
        {"id": f"t{i:03d}", "kind": "llm", "prompt": f"Write section {i}.", "deps": ["root"]}
        for i in range(tasks - 1)
    ]
    path.write_text(json.dumps({"goal": "a long report", "tasks": items}), encoding="utf-8")
    return path


KIND_TASKS = {
    "agent": {"prompt": "Find three sources on topic {i}.", "tools": []},
    "code": {"config": {"code": "result = sum(range({i}))"}},
    "image": {"prompt": "A diagram of part {i}.", "config": {"aspect_ratio": "16:9"}},
    "subplan": {"prompt": "Plan the appendix {i}."},
    "orchestrator": {"prompt": "Research question {i} with sub-agents."},
}
"""Tasks of the kinds that need no inputs, by kind (``{i}`` numbers them)."""
AGGREGATORS = {
    "document": {"outline": ["Findings", "Sources"], "formats": ["md", "docx"]},
    "sheet": {"columns": [{"name": "section"}, {"name": "words", "type": "integer"}]},
    "slides": {"max_bullets": 5},
    "site": {"layout": "pages"},
}


def mixed_plan_file(folder: Path, tasks: int) -> Path:
    """A plan of every built-in kind: model calls (a third with an output schema), agents, code,
    images, sub-plans, orchestrators, a map over a code task's list, and aggregators of each
    kind combining them: what `swarm validate` checks in a real plan."""
    path = folder / f"mixed-{tasks}.json"
    items: list[dict[str, object]] = [
        {"id": "items", "kind": "code", "config": {"code": "result = list(range(5))"}},
        {
            "id": "each",
            "kind": "map",
            "deps": ["items"],
            "config": {"over": "items", "template": {"kind": "llm", "prompt": "Expand {item}."}},
        },
    ]
    kinds = ["llm", *KIND_TASKS]
    while len(items) < tasks - len(AGGREGATORS):
        i = len(items)
        kind = kinds[i % len(kinds)]
        task: dict[str, object] = {"id": f"t{i:03d}", "kind": kind, "prompt": f"Write part {i}."}
        if kind == "llm" and i % 3 == 0:
            task["output_schema"] = {"type": "object", "required": [f"k{i % 7}"]}
        for key, value in KIND_TASKS.get(kind, {}).items():
            task[key] = json.loads(json.dumps(value).replace("{i}", str(i)))
        items.append(task)
    llm_ids = [str(t["id"]) for t in items if t["kind"] == "llm"]
    for n, (kind, config) in enumerate(AGGREGATORS.items()):
        deps = llm_ids[n * 10 : n * 10 + 10]
        items.append({"id": f"out-{kind}", "kind": kind, "deps": deps, "config": config})
    plan = {"goal": "a mixed report", "budget": {"max_steps": 4000}, "tasks": items}
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def measure(runs: int, against: Path | None = None) -> list[Timing]:
    python = sys.executable
    cli = [python, "-m", "swarm.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        plan = str(plan_file(Path(tmp), 300))
        mixed = str(mixed_plan_file(Path(tmp), 300))
        research = "examples/research-swarm.json"  # relative: each checkout's own
        script = Path(python).parent / "swarm"  # the console script, where the venv has one
        commands = [
            ("swarm --help", [*cli, "--help"]),
            *([("swarm -h (the console script)", [str(script), "-h"])] if script.exists() else []),
            ("swarm --version", [*cli, "--version"]),
            ("swarm validate (300 tasks)", [*cli, "validate", plan]),
            ("swarm validate --json (300 tasks)", [*cli, "validate", plan, "--json"]),
            ("swarm validate (300 tasks, every kind)", [*cli, "validate", mixed]),
            ("swarm validate examples/research-swarm.json", [*cli, "validate", research]),
            ("swarm execute --help", [*cli, "execute", "--help"]),
            ("swarm run --help", [*cli, "run", "--help"]),
            ("swarm resume --help", [*cli, "resume", "--help"]),
        ]
        floors = [
            ("import typer, rich.console", "import typer, rich.console"),
            ("... and typer's rich help (typer.rich_utils)", "import typer.rich_utils"),
            ("import pydantic (BaseModel)", "from pydantic import BaseModel"),
            ("import typer._adapters (typer's pydantic coercion)", "import typer._adapters"),
            ("import swarm.plan (the plan models)", "import swarm.plan"),
            ("import swarm.api (the runtime, the store)", "import swarm.api"),
        ]
        cases = [Case("python -c pass (the interpreter alone)", [python, "-c", "pass"])]
        cases += [Case(label, argv) for label, argv in commands]
        if against is not None:
            cases += [Case(f"{label} [{against.name}]", argv, against) for label, argv in commands]
        cases += [Case(label, [python, "-c", code]) for label, code in floors]
        return time_commands(cases, runs=runs)


def markdown(timings: list[Timing]) -> str:
    bare, bare_median = timings[0].min_s, timings[0].median_s
    rows = [
        "| command | median s | min s | max s | min ÷ bare min | median ÷ bare median "
        "| runs | exit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows += [
        f"| `{t.label}` | {t.median_s:.3f} | {t.min_s:.3f} | {t.max_s:.3f} "
        f"| {t.min_s / bare:.1f}× | {t.median_s / bare_median:.1f}× | {t.runs} | {t.exit_code} |"
        for t in timings
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="Print a Markdown table.")
    parser.add_argument("--against", type=Path, help="Another checkout to time beside this one.")
    args = parser.parse_args()
    before = _load()
    timings = measure(args.runs, args.against.resolve() if args.against else None)
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {before:.1f} at the start, {_load():.1f} at the end"
    )
    if args.markdown:
        print(markdown(timings))
        return
    bare, bare_median = timings[0].min_s, timings[0].median_s
    for t in timings:
        print(
            f"{t.label:<52} median {t.median_s:.3f}s  (min {t.min_s:.3f}, max {t.max_s:.3f}; "
            f"bare x{t.min_s / bare:.1f} min, x{t.median_s / bare_median:.1f} median)"
            + (f"  exit {t.exit_code}" if t.exit_code else "")
        )


def _load() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


if __name__ == "__main__":
    main()
