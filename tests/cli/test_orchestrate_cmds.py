"""`swarm run GOAL --mode orchestrate`: a run whose root is an orchestrator; `swarm show`
prints its stages and critical steps as Kimi defines them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import CliRunner

GOAL = "Compare vector databases\n- Qdrant\n- Weaviate\n- Milvus\n- pgvector"


def test_swarm_run_orchestrate_spawns_sub_agents_and_show_prints_the_stages(
    cli: CliRunner, tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    args = ("--db", db, "--json", "--artifacts-dir", tmp_path / "runs", "--run-id", "o")
    result = cli("run", GOAL, "--mode", "orchestrate", *args)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["status"] == "succeeded" and summary["tasks"] == 1 + 4 + 1
    stages = summary["metrics"]["stages"]
    assert [(s["stage"], s["subagents"]) for s in stages] == [(1, 4), (2, 1)]
    shown = cli("show", "o", "--db", db)
    assert shown.code == 0, shown.err
    assert "orchestrator stage 1: 4 sub-agent(s), slowest orchestrator:s1-" in shown.out
    as_json = json.loads(cli("show", "o", "--db", db, "--json").out)
    assert as_json["metrics"]["steps_critical"] == summary["metrics"]["steps_critical"]
    assert as_json["metrics"]["steps_critical"] < as_json["metrics"]["steps_total"]
    page = tmp_path / "report.html"
    report = cli("report", "o", "--db", db, "--output", page)
    assert report.code == 0, report.err
    html = page.read_text()
    assert "orchestrator stage 1" in html and "4 sub-agent(s)" in html


def test_an_unknown_mode_exits_2_and_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli("run", GOAL, "--mode", "swarm", "--db", db)
    assert result.code == 2 and "unknown mode 'swarm'" in result.err and not db.exists()
    images = cli("run", GOAL, "--mode", "orchestrate", "--image", "x.png", "--db", db)
    assert images.code == 2 and "orchestrate mode has none" in images.err and not db.exists()
