"""The slot hand-off in an orchestrator's wide stage: how long a slot freed by a finished
sub-agent stays empty before the next sub-agent starts on it (issue 19/20).

    python benchmarks/bench_handoff.py [--subagents 300] [--concurrency 100] [--runs 1]

Runs ``bench_orchestrator``'s swarm (the same plan, latency and work model) and reads the
recorded attempts: in each stage, after the first ``concurrency`` starts, the i-th later start
takes the slot of the i-th finish, so the hand-off is ``start[concurrency + i] - finish[i]``.
Prints the median and p90 of those gaps and the run's efficiency (zero-overhead schedule of
the same durations ÷ makespan) as JSON, one line per run.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_orchestrator import WorkModel, one  # noqa: E402


def handoffs(db: Path, concurrency: int) -> list[float]:
    """The seconds each freed slot stayed empty, over every stage's sub-agents."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task_id, started_at, finished_at FROM attempts "
            "WHERE task_id != 'orchestrator' AND attempt = 1"
        ).fetchall()
    stages: dict[str, list[tuple[float, float]]] = {}
    for task, started, finished in rows:
        stages.setdefault(task.split("-")[0], []).append((started, finished))
    gaps = []
    for attempts in stages.values():
        starts = sorted(s for s, _ in attempts)
        finishes = sorted(f for _, f in attempts)
        gaps += [starts[concurrency + i] - finishes[i] for i in range(len(starts) - concurrency)]
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subagents", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            result = one(args.subagents, args.concurrency, args.scale, WorkModel(), tmp)
            gaps = sorted(handoffs(tmp / f"c{args.concurrency}.db", args.concurrency))
        p90 = gaps[int(0.9 * (len(gaps) - 1))] if gaps else 0.0
        print(
            json.dumps(
                {
                    "makespan_s": round(result["makespan_s"], 3),
                    "ideal_s": round(result["ideal_s"], 3),
                    "efficiency": round(result["ideal_s"] / result["makespan_s"], 3),
                    "handoffs": len(gaps),
                    "handoff_median_ms": round(1000 * statistics.median(gaps), 1) if gaps else 0,
                    "handoff_p90_ms": round(1000 * p90, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
