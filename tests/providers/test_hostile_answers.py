"""Hostile answers through a real run (issue 16, defects 5 and 6): the real ``replicate`` client
against the fake server, answering a lone surrogate, ``NaN`` and a 5,000-deep array. The run
finishes, and a run killed while such a prediction runs resumes onto it and finishes too."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from swarm.testing.fake_predictions import Script, answer_tokens
from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate
from tests.cli.conftest import CliRunner

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}, "score": {}}}
SURROGATE = '{"label": "a\\ud800b"}'
"""As a model writes it: a JSON escape, six ASCII characters, for a lone surrogate."""


def hostile_script(slow_s: float = 0.002) -> Any:
    answers = {
        "[surrogate]": [SURROGATE],
        "[nan]": ['{"label": "x", "score": NaN}'],
        "[deep]": ['{"label": ' + "[" * 5000 + "]" * 5000 + "}"],
    }
    seen: set[str] = set()

    def script(inputs: dict[str, Any]) -> Script:
        prompt = str(inputs.get("prompt", ""))
        for marker, tokens in answers.items():
            if marker in prompt and (marker == "[surrogate]" or marker not in seen):
                seen.add(marker)  # NaN and the deep answer once; the re-ask gets a good one
                return Script(list(tokens), token_delay_s=slow_s)
        if "Answer with one JSON value" in prompt:
            return Script(['{"label": "fine", "score": 1}'], token_delay_s=slow_s)
        return Script(answer_tokens(inputs), token_delay_s=slow_s)

    return script


def plan_file(tmp_path: Path) -> Path:
    tasks: list[dict[str, Any]] = [
        {"id": m, "kind": "llm", "prompt": f"Label it [{m}].", "output_schema": SCHEMA}
        for m in ("surrogate", "nan", "deep")
    ]
    tasks.append({"id": "end", "kind": "llm", "prompt": "Sum up.", "deps": ["surrogate", "nan"]})
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"goal": "hostile answers", "tasks": tasks}))
    return plan


def results(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT task_id, result FROM tasks WHERE status = 'succeeded'"))


def test_a_run_with_hostile_answers_finishes(
    cli: CliRunner,
    replicate_env: FakeReplicate,
    tmp_path: Path,
) -> None:
    replicate_env.script = hostile_script()
    db = tmp_path / "s.db"
    result = cli(
        "execute", plan_file(tmp_path), "--provider", "replicate", "--db", db, "--json",
        "--artifacts-dir", tmp_path / "runs", "--rate-limit", "60000", "--run-id", "h",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads(result.out)["status"] == "succeeded"
    stored = results(db)
    assert stored["surrogate"] == '{"label": "a\ufffdb"}'
    assert stored["nan"] == stored["deep"] == '{"label": "fine", "score": 1}'
    with sqlite3.connect(db) as conn:
        steps = dict(conn.execute("SELECT task_id, count(*) FROM steps GROUP BY task_id"))
    assert steps == {"surrogate": 1, "nan": 2, "deep": 2, "end": 1}  # re-asked once each
    again = cli("resume", "h", "--db", db, "--json")
    assert again.code == 0, again.err


def test_a_killed_run_resumes_onto_a_prediction_that_answers_a_lone_surrogate(
    tmp_path: Path,
) -> None:
    """The issue's trap: each resume re-attached to the same prediction, got the same answer,
    and crashed the writer again. Now the resume stores it cleaned and the run finishes."""
    plan = tmp_path / "plan.json"
    task = {"id": "t", "kind": "llm", "prompt": "Label [surrogate].", "output_schema": SCHEMA}
    plan.write_text(json.dumps({"goal": "trap", "tasks": [task]}))
    db = tmp_path / "s.db"
    with FakeReplicate() as fake:
        fake.script = lambda inputs: Script(list(SURROGATE), token_delay_s=0.1)  # ~2 s
        env = dict(os.environ, REPLICATE_API_TOKEN=FAKE_TOKEN, REPLICATE_BASE_URL=fake.base_url)
        for name in ("SWARM_PROVIDER", "SWARM_DB", "SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS"):
            env.pop(name, None)
        cmd = [sys.executable, "-m", "swarm.cli"]
        common = ["--db", str(db), "--json"]
        first = subprocess.Popen(
            [*cmd, "execute", str(plan), *common, "--run-id", "r", "--provider", "replicate",
             "--artifacts-dir", str(tmp_path / "runs")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not journaled(db) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        assert journaled(db)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        resumed = subprocess.run(
            [*cmd, "resume", "r", *common], env=env, capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        assert len(fake.creations) == 1  # re-attached, not paid for again
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert results(db) == {"t": '{"label": "a\ufffdb"}'}


def journaled(db: Path) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM calls").fetchone()[0] > 0
    except sqlite3.Error:
        return False
