"""How long the CLI takes to start: `swarm --help`, `swarm validate` on a 300-task plan, and more.

Each command runs as a fresh subprocess (as a user's shell runs it), a few warm-up runs first,
then ``--runs`` timed runs; the median and the spread are reported, as hyperfine does. A
baseline of ``python -c pass`` shows what the interpreter alone costs on this machine, so the
figures can be read on a loaded one.

    python benchmarks/bench_cli_startup.py [--runs 15] [--markdown]
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


def time_command(label: str, argv: Sequence[str], *, runs: int, warmup: int = 3) -> Timing:
    """Wall time of ``argv`` as a fresh process, ``runs`` times after ``warmup`` runs."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples, code = [], 0
    for i in range(warmup + runs):
        start = time.perf_counter()
        done = subprocess.run(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if i >= warmup:
            samples.append(time.perf_counter() - start)
            code = code or done.returncode
    return Timing(label, statistics.median(samples), min(samples), max(samples), runs, code)


def plan_file(folder: Path, tasks: int) -> Path:
    path = folder / f"plan-{tasks}.json"
    items = [{"id": "root", "kind": "llm", "prompt": "Outline the report."}]
    items += [
        {"id": f"t{i:03d}", "kind": "llm", "prompt": f"Write section {i}.", "deps": ["root"]}
        for i in range(tasks - 1)
    ]
    path.write_text(json.dumps({"goal": "a long report", "tasks": items}), encoding="utf-8")
    return path


def measure(runs: int) -> list[Timing]:
    python = sys.executable
    cli = [python, "-m", "swarm.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        plan = str(plan_file(Path(tmp), 300))
        cases = [
            ("python -c pass (the interpreter alone)", [python, "-c", "pass"]),
            ("swarm --help", [*cli, "--help"]),
            ("swarm --version", [*cli, "--version"]),
            ("swarm validate (300 tasks)", [*cli, "validate", plan]),
            ("swarm execute --help", [*cli, "execute", "--help"]),
            ("import swarm.api (what --help used to import)", [python, "-c", "import swarm.api"]),
        ]
        return [time_command(label, argv, runs=runs) for label, argv in cases]


def markdown(timings: list[Timing]) -> str:
    rows = [
        "| command | median s | min s | max s | runs | exit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows += [
        f"| `{t.label}` | {t.median_s:.3f} | {t.min_s:.3f} | {t.max_s:.3f} | {t.runs} "
        f"| {t.exit_code} |"
        for t in timings
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="Print a Markdown table.")
    args = parser.parse_args()
    timings = measure(args.runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load:.1f}"
    )
    if args.markdown:
        print(markdown(timings))
        return
    for t in timings:
        print(
            f"{t.label:<48} median {t.median_s:.3f}s  (min {t.min_s:.3f}, max {t.max_s:.3f})"
            + (f"  exit {t.exit_code}" if t.exit_code else "")
        )


if __name__ == "__main__":
    main()
