"""Recovery benchmark: kill -9 at many seeds (F1), Replicate down for minutes (F5), and a run
of 1,000 tasks at concurrency 300 through faults and a 429 storm (F4 at scale).

    python benchmarks/bench_recovery.py                    # all three, 200 kill seeds
    python benchmarks/bench_recovery.py --parts crash --seeds 20 --csv seeds.csv
    python benchmarks/bench_recovery.py --parts crash --backend postgres   # F1 on PostgreSQL
    python benchmarks/bench_recovery.py --parts outage scale
    python benchmarks/bench_recovery.py --parts replicate --replicate-seeds 20

**crash**: each seed is one run of the harness in :mod:`swarm.testing.crash` (the one
``tests/runtime/test_crash_resume.py`` asserts on): a 57-task fan-out/fan-in plan on the sim
provider (50 ms calls, concurrency 8) in a real ``swarm execute``, SIGKILL at a random moment,
then ``swarm resume``. Per seed it records

- time to resume: wall seconds from launching ``swarm resume`` to the start of its first
  attempt (the ``task.started`` event), and to the process's exit with the run complete;
- in flight at the kill: tasks whose attempt had started but not finished (the database), and
  of those, how many had already made their model call (the ledger);
- duplicated in-flight work: in-flight tasks whose call was made again after the resume;
- re-executions of tasks that had succeeded before the kill (the promise: 0);
- whether every F1 criterion held.

**outage**: ``tests/runtime/test_outage.py``'s run: the same plan through the real
``replicate`` client against the fake server, which answers 503 to everything for three minutes
once 21 predictions exist; provider and fake share a clock running 100 times the wall's speed.

**scale**: ``tests/runtime/test_scale_storm.py``'s run at full size: 1,000 llm tasks at
concurrency 300 through the real client, 5% failed predictions, 1% hung, 2% malformed answers,
and half of all creations answered 429 (``Retry-After: 1``) for 3 s once 400 predictions exist;
answers stream a token every 0.5 s (about 3 s a prediction), so all 300 calls can stream at once.

**replicate** (not in the default parts: about 25 s a seed): the kill -9 sweep through the
Replicate provider of :mod:`swarm.testing.crash_replicate` — 312 tasks at concurrency 100
against the fake, bursts of 100 creations each answered 0.15 s after the prediction exists —
counting predictions made again after the kill although their creation had been answered.

Everything runs one part after another, the kill seeds one after another: the figures are wall
times on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm.testing import crash_replicate  # noqa: E402
from swarm.testing.crash import Recovery, Reference, crash_and_resume, run_reference  # noqa: E402
from tests.providers.test_storm import retries_after_429  # noqa: E402
from tests.runtime import test_outage, test_scale_storm  # noqa: E402

FIRST_SEED = 1000
"""The slow sweep's seeds are 1000-1199; the benchmark uses the same ones."""


def row(recovery: Recovery, reference: Reference) -> dict[str, Any]:
    problems = recovery.problems(reference)
    return {
        "seed": recovery.seed,
        "recorded": recovery.recorded,
        "succeeded_before": len(recovery.succeeded_before),
        "in_flight": len(recovery.in_flight),
        "in_flight_called": len(recovery.in_flight_called),
        "duplicated": len(recovery.duplicated),
        "extra_calls": recovery.extra_calls,
        "re_executed_succeeded": len(recovery.re_executed_succeeded),
        "to_first_dispatch_s": recovery.to_first_dispatch_s,
        "to_done_s": recovery.to_done_s if recovery.recorded else None,
        "passed": not problems,
        "problems": "; ".join(problems),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    return (
        f"{platform.machine()}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {platform.system()}"
    )


def render_crash(rows: list[dict[str, Any]], wall_s: float, backend: str = "sqlite") -> str:
    resumed = [r for r in rows if r["recorded"]]
    first = [r["to_first_dispatch_s"] for r in resumed if r["to_first_dispatch_s"] is not None]
    done = [r["to_done_s"] for r in resumed]

    def spread(values: list[float]) -> str:
        if not values:
            return "—"
        return (
            f"{statistics.median(values):.2f} / {percentile(values, 0.95):.2f} / {max(values):.2f}"
        )

    lines = [
        f"### F1: kill -9 at {len(rows)} seeds, then `swarm resume` ({wall_s / 60:.1f} min"
        + (", PostgreSQL)" if backend == "postgres" else ")"),
        "",
        *table(
            [
                ("seeds run", len(rows)),
                ("passed every F1 criterion", sum(r["passed"] for r in rows)),
                (
                    "killed before the run was recorded (nothing to resume)",
                    len(rows) - len(resumed),
                ),
                ("resumed", len(resumed)),
                (
                    "re-executions of tasks that had succeeded before the kill",
                    sum(r["re_executed_succeeded"] for r in resumed),
                ),
                (
                    "tasks in flight at the kill: total / most at one kill",
                    f"{sum(r['in_flight'] for r in resumed)} / "
                    f"{max((r['in_flight'] for r in resumed), default=0)}",
                ),
                (
                    "of which had already called the model",
                    sum(r["in_flight_called"] for r in resumed),
                ),
                (
                    "duplicated in-flight executions: total / most at one kill",
                    f"{sum(r['duplicated'] for r in resumed)} / "
                    f"{max((r['duplicated'] for r in resumed), default=0)}",
                ),
                ("calls beyond one per task, all seeds", sum(r["extra_calls"] for r in resumed)),
                (
                    "launch of `swarm resume` → its first attempt starts, s (median / p95 / max)",
                    spread(first),
                ),
                ("launch of `swarm resume` → run complete, s (median / p95 / max)", spread(done)),
            ]
        ),
    ]
    failures = [r["problems"] for r in rows if not r["passed"]]
    if failures:
        lines += ["", "Seeds that failed:", *(f"- {p}" for p in failures)]
    return "\n".join(lines)


def table(pairs: list[tuple[str, object]]) -> list[str]:
    return ["| figure | value |", "|---|---:|", *(f"| {name} | {value} |" for name, value in pairs)]


def crash_part(seeds: range, csv_path: Path | None, backend: str = "sqlite") -> str:
    started = time.perf_counter()
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="swarm-recovery-") as tmp_name,
        _databases(backend) as fresh,
    ):
        tmp = Path(tmp_name)
        reference = run_reference(tmp)
        for seed in seeds:
            seed_dir = tmp / str(seed)
            seed_dir.mkdir()
            recovery = crash_and_resume(seed_dir, reference, seed, database=fresh(seed))
            rows.append(row(recovery, reference))
            done = rows[-1]
            print(
                f"seed {seed}: in flight {done['in_flight']}, duplicated {done['duplicated']}, "
                f"first attempt {done['to_first_dispatch_s']}, passed {done['passed']}",
                file=sys.stderr,
            )
    if csv_path:
        with csv_path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return render_crash(rows, time.perf_counter() - started, backend)


@contextmanager
def _databases(backend: str) -> Iterator[Callable[[int], str | None]]:
    """Each seed's database: a new SQLite file in its folder (None), or a new database on one
    throwaway local PostgreSQL server (:mod:`swarm.testing.postgres`)."""
    if backend == "sqlite":
        yield lambda _seed: None
        return
    from swarm.testing import postgres

    with postgres.running() as server:
        yield lambda seed: server.create_database(f"seed_{seed}")


def outage_part() -> str:
    with tempfile.TemporaryDirectory(prefix="swarm-outage-") as tmp_name:
        db = Path(tmp_name) / "s.db"
        started = time.perf_counter()
        run = anyio.run(test_outage.run_through_outage, db)
        wall = time.perf_counter() - started
        with sqlite3.connect(db) as conn:
            attempts = conn.execute("SELECT attempt, status FROM attempts").fetchall()
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    refused = [h for h in run.hits if h.status == 503]
    refused_creations = [h for h in refused if h.method == "POST"]
    gaps = test_outage.gaps_after_failures(run.creations)
    tries = Counter(h.key for h in refused_creations)
    counts = run.summary["counts"]
    first = sum(1 for attempt, status in attempts if attempt == 1 and status == "succeeded")
    return "\n".join(
        [
            f"### F5: Replicate down for {test_outage.OUTAGE_S / 60:g} minutes in the middle "
            f"of a 57-task run (clock at {test_outage.SPEED:g}x the wall; {wall:.1f} s of wall "
            "time)",
            "",
            *table(
                [
                    ("run", run.summary["status"]),
                    ("tasks succeeded", counts["succeeded"]),
                    ("of which on their first attempt", first),
                    ("attempts recorded", len(attempts)),
                    ("creations refused (503)", len(refused_creations)),
                    (
                        "reads refused (503, after the client's own retries)",
                        len(refused) - len(refused_creations),
                    ),
                    ("callers held back at creation", len(tries)),
                    ("most refused creations of one caller", max(tries.values(), default=0)),
                    ("longest wait between a caller's tries, s", f"{max(gaps, default=0):.1f}"),
                    (
                        "first creation after the provider is back, s",
                        f"{run.first_creation_after():.1f}",
                    ),
                    ("run took, s on the scaled clock", f"{run.took_s:.0f}"),
                    ("`PRAGMA integrity_check`", integrity),
                ]
            ),
        ]
    )


def scale_part(n: int, concurrency: int) -> str:
    with tempfile.TemporaryDirectory(prefix="swarm-scale-") as tmp_name:
        db = Path(tmp_name) / "s.db"
        summary, seen = anyio.run(test_scale_storm.run_at_scale, db, n, concurrency, 0.5)
        try:
            test_scale_storm.check(db, summary, seen, n)  # the test's criteria, all of them
            verdict = "every criterion of `tests/runtime/test_scale_storm.py` held"
        except AssertionError as exc:
            verdict = f"FAILED a criterion of the test: {exc!r}"
        with sqlite3.connect(db) as conn:
            outcomes = Counter(
                f"{status}/{kind}" if kind else status
                for status, kind in conn.execute("SELECT status, error_kind FROM attempts")
            )
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    statuses = [h.status for h in seen.creation_attempts]
    waits = [back - at - hint for at, hint, back in retries_after_429(seen.creation_attempts)]
    counts = summary["counts"]
    shown = ", ".join(f"{kind} {count}" for kind, count in sorted(outcomes.items()))
    drawn = ", ".join(f"{kind} {seen.drawn[kind]}" for kind in ("failed", "hang", "malformed"))
    return "\n".join(
        [
            f"### F4 at scale: {n:,} tasks at concurrency {concurrency} through the real client, "
            f"with faults and a 429 storm ({seen.wall_s:.1f} s of wall time)",
            "",
            *table(
                [
                    (
                        "tasks succeeded / failed / skipped",
                        f"{counts['succeeded']} / {counts['failed']} / {counts['skipped']}",
                    ),
                    ("predictions created", len(seen.predictions)),
                    ("injected per prediction", drawn),
                    ("attempts by outcome", shown),
                    (
                        "attempts that failed on a 429",
                        sum(n for kind, n in outcomes.items() if kind.endswith("RateLimited")),
                    ),
                    ("429 answers", statuses.count(429)),
                    (
                        "predictions created before the storm began",
                        statuses[: statuses.index(429)].count(201),
                    ),
                    ("shortest wait beyond a `Retry-After`, s", f"{min(waits):.3f}"),
                    ("peak open streams at the fake", seen.peak_streams),
                    ("`PRAGMA integrity_check`", integrity),
                ]
            ),
            "",
            f"Checked: {verdict}.",
        ]
    )


def replicate_part(seeds: range) -> str:
    """The kill -9 sweep through the Replicate provider (``swarm.testing.crash_replicate``)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="swarm-crash-replicate-") as tmp_name:
        recoveries = [crash_replicate.crash_and_resume(Path(tmp_name), seed) for seed in seeds]
    resumed = [r for r in recoveries if r.recorded]
    passed = sum(1 for r in resumed if not r.problems())

    def total_max(values: list[int]) -> str:
        return f"{sum(values)} / {max(values, default=0)}"

    return "\n".join(
        [
            f"### F15: kill -9 through Replicate at concurrency {crash_replicate.CONCURRENCY}, "
            f"in bursts of creations, {len(recoveries)} seeds "
            f"({(time.monotonic() - started) / 60:.1f} min)",
            "",
            *table(
                [
                    ("seeds run / resumed", f"{len(recoveries)} / {len(resumed)}"),
                    ("passed (resume succeeded, all tasks, integrity ok, 0 re-created)", passed),
                    (
                        "answered creations not yet journaled at the kill: total / most at one",
                        total_max([r.answered_unjournaled for r in resumed]),
                    ),
                    (
                        "creations received, not yet answered at the kill: total / most at one",
                        total_max([r.unanswered for r in resumed]),
                    ),
                    (
                        "predictions made again after an answered creation: total / most at one",
                        total_max([r.recreated_answered for r in resumed]),
                    ),
                    (
                        "predictions made again after an unanswered one: total / most at one",
                        total_max([r.recreated_unanswered for r in resumed]),
                    ),
                ]
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("crash", "outage", "scale", "replicate"),
        default=["crash", "outage", "scale"],
    )
    parser.add_argument("--seeds", type=int, default=200, help="kill seeds (default 200)")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED)
    parser.add_argument(
        "--replicate-seeds", type=int, default=20, help="kill seeds through Replicate (20)"
    )
    parser.add_argument("--csv", type=Path, help="write one row per kill seed here")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the kill seeds' store: a SQLite file (default) or a local PostgreSQL server",
    )
    parser.add_argument("--tasks", type=int, default=1000, help="tasks of the scale run")
    parser.add_argument("--concurrency", type=int, default=300, help="of the scale run")
    args = parser.parse_args()
    command = " ".join(["python", "benchmarks/bench_recovery.py", *sys.argv[1:]])
    print(f"Machine: {machine()}; command: `{command}`.", flush=True)
    if "crash" in args.parts:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        print(f"\n{crash_part(seeds, args.csv, args.backend)}", flush=True)
    if "outage" in args.parts:
        print(f"\n{outage_part()}", flush=True)
    if "scale" in args.parts:
        print(f"\n{scale_part(args.tasks, args.concurrency)}", flush=True)
    if "replicate" in args.parts:
        seeds = range(args.first_seed, args.first_seed + args.replicate_seeds)
        print(f"\n{replicate_part(seeds)}", flush=True)


if __name__ == "__main__":
    main()
