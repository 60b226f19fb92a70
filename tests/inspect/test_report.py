"""`swarm report`: one self-contained, escaped HTML file, checked as text and in Chromium."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import anyio
import networkx as nx
import pytest

from swarm.report import collect, render_report
from swarm.report.dag_svg import PER_COLUMN, layers, layout
from swarm.report.gantt_svg import nice_step
from swarm.store.queries import Queries
from swarm.store.store import Store
from tests.cli.conftest import CliRunner
from tests.inspect.browser import Browser
from tests.inspect.conftest import SOURCES, RecordedRun


def html_of(recorded: RecordedRun, out_dir: Path) -> str:
    async def main() -> str:
        store = await Store.open(recorded.db)
        try:
            return render_report(await collect(Queries(store), recorded.run_id), out_dir)
        finally:
            await store.close()

    return anyio.run(main)


def test_the_report_is_self_contained_and_escaped(recorded: RecordedRun, tmp_path: Path) -> None:
    html = html_of(recorded, tmp_path)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "<script" not in html.lower()  # none of ours, and the hostile text is escaped
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt; &amp; boom" in html
    assert "&lt;img src=x onerror=" in html and "<img" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # only the SVG namespace, never fetched
    for task in ("src-00", "flaky", "boom", "after-boom", "merge", "final"):
        assert f'id="task-{task}"' in html
    for section in ("Run metrics", "DAG", "Timeline", "Tasks", "Artifacts"):
        assert f"<h2>{section}</h2>" in html
    assert 'href="../' not in html or "swarm-runs" in html
    assert "notes%20%3Cdraft%3E.md" in html  # the artifact link, relative and quoted


def test_the_artifact_link_is_relative_to_the_report(recorded: RecordedRun) -> None:
    html = html_of(recorded, recorded.folder.parent)  # the report beside the run folder
    assert f'href="{recorded.run_id}/merge/notes%20%3Cdraft%3E.md"' in html


def test_report_command(cli: CliRunner, recorded: RecordedRun, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = cli("report", "r1", "--db", recorded.db, "-o", out, "--json")
    assert result.code == 0 and json.loads(result.out) == {"run_id": "r1", "report": str(out)}
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    missing = cli("report", "r1", "--db", recorded.db, "-o", tmp_path / "no" / "r.html")
    assert missing.code == 2 and "does not exist" in missing.err


def test_the_report_renders_in_chromium(
    cli: CliRunner, recorded: RecordedRun, browser: Browser, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert cli("report", "r1", "--db", recorded.db, "-o", out).code == 0
    page = browser.new_page()
    page.goto(out.as_uri())
    with sqlite3.connect(recorded.db) as conn:
        (attempts,) = conn.execute("SELECT count(*) FROM attempts").fetchone()
        summary = conn.execute("SELECT summary_json FROM runs").fetchone()[0]
    critical = json.loads(summary)["metrics"]["critical_path"]
    found = page.evaluate(
        """({
        nodes: document.querySelectorAll('svg.dag a.node').length,
        critical: [...document.querySelectorAll('svg.dag a.node.critical')]
            .map(a => a.getAttribute('href').slice(6)),
        failed: document.querySelectorAll('svg.dag a.node[data-status="failed"]').length,
        skipped: document.querySelectorAll('svg.dag a.node[data-status="skipped"]').length,
        bars: document.querySelectorAll('svg.gantt rect.bar').length,
        failedBars: document.querySelectorAll('svg.gantt rect.bar[data-status="failed"]').length,
        dagWidth: document.querySelector('svg.dag').getBoundingClientRect().width,
        ganttHeight: document.querySelector('svg.gantt').getBoundingClientRect().height,
        rows: document.querySelectorAll('table.tasks tr[id^="task-"]').length,
        xss: window.__xss === undefined ? null : window.__xss,
        artifact: document.querySelector('a.artifact').getAttribute('href'),
    })"""
    )
    assert found["nodes"] == SOURCES + 6 == found["rows"]
    assert sorted(found["critical"]) == sorted(critical) and "final" in critical
    assert found["failed"] == 1 and found["skipped"] == 1
    assert found["bars"] == attempts and found["failedBars"] == 2
    assert found["dagWidth"] > 300 and found["ganttHeight"] > 100
    assert found["xss"] is None
    assert found["artifact"].endswith("notes%20%3Cdraft%3E.md")
    assert page.requests == [out.as_uri()]  # nothing else was fetched
    assert page.console_errors == []
    shot = page.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 20_000
    print(f"report screenshot: {shot}")


def test_the_dag_layout_runs_left_to_right_and_wraps_tall_layers() -> None:
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_edges_from((f"s{i}", "mid") for i in range(PER_COLUMN + 5))
    g.add_edges_from([("mid", "end"), ("s0", "end")])
    depth = layers(g)
    assert depth["s3"] == 0 and depth["mid"] == 1 and depth["end"] == 2
    placed = layout(g)
    xs = {node: placed.position[node][0] for node in g}
    assert len({xs[f"s{i}"] for i in range(PER_COLUMN + 5)}) == 2  # wrapped into two columns
    assert all(xs[a] < xs[b] for a, b in g.edges())
    assert placed.width > max(xs.values()) and placed.height > 0


@pytest.mark.parametrize(
    ("span", "step"), [(0.35, 0.05), (1.0, 0.2), (7.3, 1.0), (95.0, 20.0), (0.0, 1.0)]
)
def test_gantt_ticks_are_round(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_the_header_says_a_simulated_run_was_simulated(
    recorded: RecordedRun, tmp_path: Path
) -> None:
    html = html_of(recorded, tmp_path)  # recorded with the default provider, sim
    header = html.split("</header>")[0]
    assert 'id="simulated"' in header and "no model was called" in header
    assert "(simulated)</title>" in html and "cost (simulated)" in html

    real = tmp_path / "real.db"
    with sqlite3.connect(recorded.db) as src, sqlite3.connect(real) as dst:
        src.backup(dst)
        dst.execute(
            "UPDATE runs SET config_json = json_set(config_json, '$.provider', 'replicate'),"
            " summary_json = NULL"
        )
    html = html_of(RecordedRun(real, recorded.run_id, recorded.folder, recorded.artifact), tmp_path)
    assert 'id="simulated"' not in html and "no model was called" not in html
    assert "cost (simulated)" not in html
