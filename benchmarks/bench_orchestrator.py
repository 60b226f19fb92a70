"""K2.6 as a live orchestrator at the seed's scale, offline: one orchestrator fanning out to 300
sub-agents (Kimi's BrowseComp / WideSearch shape), against the same work done by one sequential
agent, side by side in one invocation.

    python benchmarks/bench_orchestrator.py            # 300 sub-agents, writes docs/benchmarks.md
    python benchmarks/bench_orchestrator.py --quick    # 40 sub-agents, prints only

Both runs are the same orchestrator-mode run of the sim provider (the same turns, the same
sub-agents, the same steps, the same drawn latencies, since every draw is seeded by the call's
task, attempt and step): the swarm at concurrency 100, the single agent at concurrency 1, which
does every step one after another. Each runs in a process of its own, so its CPU time and peak
memory are its own.

Latency model (per model call, drawn from a seed of the call): time to first token
lognormal(median 1.2 s, sigma 0.4), output tokens lognormal(median 250, sigma 0.6), decode
speed lognormal(median 45 tokens/s, sigma 0.25), the call lasting TTFT + tokens / speed (a
Replicate or Moonshot K2.6 deployment: about 1-2 s to the first token, 30-60 tokens/s), all
times divided by ``--scale`` (100: a 6.8 s median call takes 68 ms). Tool steps (the
sub-agents' sandboxed ``python``, files) take their real time.

Work model (per sub-agent, drawn from a seed of its id): its routine takes lognormal(median
12, sigma 0.45) steps, rounded, within 9-99 and made odd (the sim agent's 9-step routine, then
findings noted and read back, two steps each), so 300 sub-agents take about 4,000 steps, a
median of 11 and a longest of about 50 (Kimi's sub-agents: up to 100); each sub-agent's
allowance is 100 steps, Kimi's budget. ``--steps-median`` and ``--steps-sigma`` change it.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import math
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scheduler import write_section  # noqa: E402

from swarm.orchestrate import orchestrator_plan  # noqa: E402
from swarm.plan import Plan  # noqa: E402
from swarm.providers.base import ModelRequest, ModelResponse  # noqa: E402
from swarm.providers.sim import SimProvider  # noqa: E402
from swarm.runtime import run as runs  # noqa: E402
from swarm.store.store import Store  # noqa: E402

HEADING = "## Orchestrator: K2.6's swarm against one agent (issue 20)"
SUBAGENT_STEPS = 100
"""Each sub-agent's allowance: Kimi's (BrowseComp) budget for a sub-agent."""


@dataclass(frozen=True)
class WorkModel:
    """How many steps each sub-agent's routine takes: lognormal(``median``, ``sigma``),
    rounded, within ``low``..``high`` and made odd (the sim agent adds two steps at a time to
    its ``low``-step routine), drawn from a seed of the sub-agent's id."""

    median: float = 12.0
    sigma: float = 0.45
    low: int = 9
    high: int = 99

    def steps(self, task_id: str) -> int:
        digest = hashlib.blake2b(f"steps/{task_id}".encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        n = min(self.high, max(self.low, round(self.median * math.exp(rng.gauss(0, self.sigma)))))
        return self.low + 2 * ((n - self.low) // 2)


@dataclass(frozen=True)
class LatencyModel:
    """TTFT + output tokens / decode speed, each lognormal, divided by ``scale``."""

    ttft_s: float = 1.2
    ttft_sigma: float = 0.4
    tokens: float = 250.0
    tokens_sigma: float = 0.6
    tps: float = 45.0
    tps_sigma: float = 0.25
    scale: float = 100.0

    def draw(self, key: str) -> float:
        seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        rng = random.Random(seed)
        ttft = self.ttft_s * math.exp(rng.gauss(0.0, self.ttft_sigma))
        tokens = self.tokens * math.exp(rng.gauss(0.0, self.tokens_sigma))
        tps = self.tps * math.exp(rng.gauss(0.0, self.tps_sigma))
        return (ttft + tokens / tps) / self.scale


@dataclass
class Paced:
    """The sim's answers, each call taking what the latency model draws for it."""

    model: LatencyModel
    work: WorkModel = field(default_factory=WorkModel)
    inner: SimProvider = field(init=False)
    name: str = "sim"
    simulated: bool = True

    def __post_init__(self) -> None:
        self.inner = SimProvider(agent_steps=self.work.steps)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        key = request.call_key.split("/", 1)[-1]  # task/attempt/step: the same in both runs
        await anyio.sleep(self.model.draw(key))
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        return None


def plan_for(subagents: int, concurrency: int) -> Plan:
    items = "\n".join(f"- source {i:03d}" for i in range(subagents))
    goal = f"Find, for each of these {subagents} sources, its three most relevant facts\n{items}"
    plan = orchestrator_plan(goal)
    root = plan.tasks[0].model_copy(update={"config": {"subagent_steps": SUBAGENT_STEPS}})
    budget = {"max_concurrency": concurrency, "max_steps": subagents * SUBAGENT_STEPS * 2 + 100}
    return Plan.model_validate(
        {**plan.model_dump(), "tasks": [root.model_dump()], "budget": budget}
    )


async def _drive(
    plan: Plan, db: Path, model: LatencyModel, work: WorkModel, artifacts: Path
) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        options = runs.RunOptions(artifacts_dir=str(artifacts))
        return await runs.execute(store, plan, Paced(model, work), options, run_id="bench")
    finally:
        await store.close()


def one(
    subagents: int, concurrency: int, scale: float, work: WorkModel, tmp: Path
) -> dict[str, Any]:
    """One run in this process: its summary, CPU time, peak memory and the ideal schedule."""
    db = tmp / f"c{concurrency}.db"
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    summary = anyio.run(
        _drive, plan_for(subagents, concurrency), db, LatencyModel(scale=scale), work, tmp
    )
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert summary["status"] == "succeeded", summary
    metrics = summary["metrics"]
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "concurrency": concurrency,
        "tasks": summary["tasks"],
        "makespan_s": metrics["makespan_s"],
        "wall_s": wall,
        "steps_total": metrics["steps_total"],
        "steps_critical": metrics["steps_critical"],
        "stages": len(metrics["stages"]),
        "slowest_subagent_steps": max(st["slowest_steps"] for st in metrics["stages"]),
        "orchestrator_steps": _steps_of(db, "orchestrator"),
        "harness_cpu_s": cpu,
        "sandbox_cpu_s": kids.ru_utime + kids.ru_stime,
        "cpu_ms_per_step": 1000 * cpu / max(metrics["steps_total"], 1),
        "peak_mib": cpu1.ru_maxrss / 1024,
        "ideal_s": ideal_makespan(db, concurrency),
    }


def _steps_of(db: Path, task_id: str) -> int:
    with sqlite3.connect(db) as conn:
        (steps,) = conn.execute(
            "SELECT steps_used FROM tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
    return int(steps)


def ideal_makespan(db: Path, concurrency: int) -> float:
    """The zero-overhead schedule of the run's recorded attempt durations: the orchestrator's
    turns one after another, each stage's sub-agents list-scheduled on ``concurrency`` slots
    (critical-path first, i.e. longest first) between them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task_id, attempt, finished_at - started_at FROM attempts "
            "WHERE run_id = 'bench' ORDER BY task_id, attempt"
        ).fetchall()
    turns = [float(d) for task, _, d in rows if task == "orchestrator"]
    stages: dict[int, list[float]] = {}
    for task, _, d in rows:
        if task != "orchestrator":
            stage = int(task.split(":s", 1)[1].split("-")[0])
            stages.setdefault(stage, []).append(d)
    total = float(sum(turns))
    for durations in stages.values():
        total += _list_schedule(sorted(durations, reverse=True), concurrency)
    return total


def _list_schedule(durations: list[float], slots: int) -> float:
    finishes: list[float] = []
    for d in durations:
        start = heapq.heappop(finishes) if len(finishes) >= slots else 0.0
        heapq.heappush(finishes, start + d)
    return max(finishes, default=0.0)


def measure(subagents: int, concurrency: int, scale: float, work: WorkModel) -> dict[str, Any]:
    """One run in a child process of its own (its CPU and memory figures are its own)."""
    args = [sys.executable, __file__, "--one", str(concurrency), "--subagents", str(subagents)]
    args += ["--steps-median", str(work.median), "--steps-sigma", str(work.sigma)]
    out = subprocess.run(
        [*args, "--scale", str(scale)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"the run at concurrency {concurrency} failed: {out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def render(
    swarm: dict[str, Any], single: dict[str, Any], subagents: int, scale: float, work: WorkModel
) -> str:
    speedup = single["makespan_s"] / swarm["makespan_s"]
    # one agent doing every step in sequence has every step on its critical path
    single = {**single, "steps_critical": single["steps_total"]}
    rows = [
        ("makespan", "{makespan_s:.2f} s"),
        ("total steps", "{steps_total:,}"),
        ("critical steps", "{steps_critical:,}"),
        ("the orchestrator's own steps", "{orchestrator_steps}"),
        ("the slowest sub-agent's steps", "{slowest_subagent_steps}"),
        ("harness CPU per step", "{cpu_ms_per_step:.1f} ms"),
        ("sandbox CPU (sub-agents' python)", "{sandbox_cpu_s:.1f} s"),
        ("peak memory (RSS)", "{peak_mib:.0f} MiB"),
        ("zero-overhead schedule of the same durations", "{ideal_s:.2f} s"),
    ]
    efficiency = swarm["ideal_s"] / swarm["makespan_s"]
    lines = [
        HEADING,
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()}, 2 cores shared with other "
        "engineers' work (load 6-10: noisy); command: `python benchmarks/bench_orchestrator.py`.",
        "",
        f"One orchestrator-mode run (`swarm run --mode orchestrate`, sim provider) whose "
        f"orchestrator fans out to {subagents} `agent` sub-agents with `AgentSwarm` calls "
        "of 50 items in its first turn, has one `Agent` cross-check them in its second and "
        "answers in its third; the same run at concurrency 1 is the same work done by one "
        "sequential agent (same turns, steps and drawn latencies). Latency per model call: "
        "TTFT lognormal(1.2 s, σ 0.4) + lognormal(250, σ 0.6) output tokens at "
        f"lognormal(45, σ 0.25) tokens/s, all divided by {scale:g}; tool steps take their real "
        f"time. Work per sub-agent: its routine takes lognormal(median {work.median:g}, "
        f"σ {work.sigma:g}) steps, rounded, within {work.low}-{work.high} and made odd, drawn "
        "from a seed of its id (`WorkModel`; the sim agent's 9-step routine, then findings "
        "noted and read back, two steps each: `SimProvider(agent_steps=...)`, which ordinary "
        "runs leave unset); each sub-agent's allowance is 100 steps, the orchestrator's 15 "
        "(Kimi's budgets). Each run in its own process.",
        "",
        "| | swarm (concurrency 100) | one sequential agent |",
        "|---|---:|---:|",
    ]
    for label, fmt in rows:
        lines.append(f"| {label} | {fmt.format(**swarm)} | {fmt.format(**single)} |")
    lines += [
        f"| speedup over the single agent | **{speedup:.2f}×** | 1.00× |",
        f"| critical steps, the single agent's ÷ the swarm's | "
        f"**{single['steps_critical'] / swarm['steps_critical']:.1f}×** fewer | 1.0× |",
        f"| efficiency (zero-overhead schedule ÷ makespan) | "
        f"{efficiency:.3f} | "
        f"{single['ideal_s'] / single['makespan_s']:.3f} |",
        "",
        "Critical steps as the K2.5 report defines them: per stage, the orchestrator's steps "
        "plus the slowest sub-agent's, summed over the stages (`RunMetrics.stages`); one "
        "agent doing the same steps in sequence has all of them on its critical path. Kimi "
        "reports 3-4.5× fewer critical steps and 4.5× the speed of one agent; at 100 "
        "sub-agents at once the swarm's speedup is bounded by the slowest sub-agent of the "
        "wide stage (its steps in sequence) and by the 2 cores, not by the orchestrator.",
        "",
        "What falls short, and why:",
        f"- **Efficiency {efficiency:.3f}"
        + (", under the 0.98 aimed at.** " if efficiency < 0.98 else ".** ")
        + "The zero-overhead schedule replays the recorded attempt durations (the "
        "orchestrator's turns in sequence, each stage's sub-agents packed longest first on the "
        "slots). What is lost is mostly the hand-off of a slot inside the wide stage: between "
        "a sub-agent's end and the start of the one it makes room for, the result and the "
        "next start are committed first, while 100 sub-agents' sandboxed `python` processes "
        "and other engineers' work load the 2 cores the event loop and the writer run on "
        "(the driver's slot hand-off is issue 19's work, not this section's).",
        f"- **The swarm is CPU-bound here**: its sub-agents' sandboxed `python` steps take "
        f"{swarm['sandbox_cpu_s']:.0f} s of CPU and the harness "
        f"{swarm['cpu_ms_per_step']:.1f} ms a step, on 2 shared cores, so the speedup depends "
        "on the time scale: real K2.6 calls (seconds each, `--scale 1`) would weigh the "
        "model more and the tools and the harness less.",
        "- The orchestrator's steps are the sim's three turns (fan out, cross-check, final): "
        "Kimi's orchestrator may take up to 15-100; more turns would add their steps to the "
        "critical steps one for one.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 sub-agents, print only")
    parser.add_argument("--subagents", type=int, default=300)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--steps-median", type=float, default=WorkModel.median)
    parser.add_argument("--steps-sigma", type=float, default=WorkModel.sigma)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    work = WorkModel(median=args.steps_median, sigma=args.steps_sigma)
    if args.one is not None:
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(one(args.subagents, args.one, args.scale, work, Path(d))))
        return
    subagents = 40 if args.quick else args.subagents
    swarm = measure(subagents, 100, args.scale, work)
    single = measure(subagents, 1, args.scale, work)
    print(json.dumps({"swarm": swarm, "single": single}, indent=1))
    section = render(swarm, single, subagents, args.scale, work)
    print(section)
    if not args.quick:
        write_section(Path(args.out), HEADING, section)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
