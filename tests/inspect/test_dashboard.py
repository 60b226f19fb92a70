"""`swarm dashboard`: Datasette and the bundled dashboards over a real run, read-only and
offline, loaded in headless Chromium."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from swarm.dashboard import dashboards
from swarm.dashboard.progress import progress
from swarm.dashboard.sql import OUTCOMES, REFRESH_S
from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.store.schema import ATTEMPT_STATUSES
from swarm.store.store import Store
from tests.cli.conftest import CliRunner
from tests.fakes import ScriptedProvider, plan_data
from tests.inspect.browser import Browser
from tests.inspect.conftest import HOSTILE_ERROR, RecordedRun

pytest.importorskip("datasette_dashboards", reason="needs the `dashboard` extra")

RENDERED = """(() => {
  const cards = [...document.querySelectorAll('.dashboard-card-chart')];
  const state = {};
  for (const card of cards) {
    const slug = card.id.replace('chart-', '');
    state[slug] = {
      marks: card.querySelectorAll('svg .role-mark path, svg .role-mark line').length,
      rows: card.querySelectorAll('table tbody tr').length,
      text: card.innerText.trim(),
      scripts: card.querySelectorAll('script, img').length,
      labels: [...card.querySelectorAll('svg .role-axis-label text')].map(t => t.textContent),
      yTicks: [...card.querySelectorAll('[aria-label^="Y-axis"] .role-axis-label text')]
        .map(t => t.textContent),
      xTicks: [...card.querySelectorAll('[aria-label^="X-axis"] .role-axis-label text')]
        .map(t => t.textContent),
      clipped: [...card.querySelectorAll('div')].some(
        d => d.scrollWidth > d.clientWidth + 1 && getComputedStyle(d).overflow !== 'hidden'),
    };
  }
  const done = cards.length > 0 && Object.values(state).every(
    s => s.marks > 0 || s.rows > 0 || (s.text.length > 0 && !/\\n/.test(s.text)));
  return done ? state : null;
})()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(db: Path, log: Path) -> Iterator[str]:
    """``swarm dashboard`` on ``db`` in a subprocess, on a free port; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "swarm.cli", "dashboard", "--db", str(db)]
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "-/versions.json", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"no dashboard: {log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert f"read-only at {url}" in log.read_text()


@pytest.fixture(scope="module")
def server(recorded: RecordedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(recorded.db, tmp_path_factory.mktemp("dashboard") / "stderr.log") as url:
        yield url


def _load(browser: Browser, url: str, shot: Path) -> dict[str, dict[str, object]]:
    page = browser.new_page(height=1200)
    page.goto(url)
    state = page.wait_for(RENDERED, timeout=30)
    page.screenshot(shot)
    local = [u for u in page.requests if not u.startswith(url.split("/-/")[0] + "/")]
    assert local == [], f"non-local requests: {local}"
    assert page.failed_requests == [] and page.console_errors == []
    print(f"dashboard screenshot: {shot}")
    assert isinstance(state, dict)
    return state


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        value: int = conn.execute(sql).fetchone()[0]
        return value


def test_every_dashboard_renders_with_data(
    server: str, browser: Browser, recorded: RecordedRun, tmp_path: Path
) -> None:
    seen = {}
    for slug in dashboards.dashboards():
        seen[slug] = _load(browser, f"{server}-/dashboards/{slug}", tmp_path / f"{slug}.png")
    runs = seen["runs"]
    assert runs["runs"]["text"] == "1" and runs["tasks"]["text"] == "18"
    assert runs["statuses"]["marks"] >= 3 and runs["costs"]["marks"] == 1
    assert runs["table"]["rows"] == 1 and "failed" in str(runs["table"]["text"])
    # the run used the simulated provider: its cost is marked, and not added to real spending
    assert runs["cost"]["text"] == "$0.0000" and runs["sim_cost"]["text"] == "$0.0005"
    assert "(simulated)" in str(runs["table"]["text"])
    progress = seen["progress"]
    assert progress["done"]["text"] == "18 of 18 (100%)" and progress["eta"]["text"] == "ended"
    assert progress["retries"]["text"] == "1"  # flaky's first attempt
    assert str(progress["critical"]["text"]).startswith("4 (")
    assert progress["budgets"]["marks"] >= 2 and progress["states"]["marks"] == 3
    heading = str(progress["run"]["text"])
    assert "simulated: no model was called" in heading and "not running" in heading
    started = _count(recorded.db, "SELECT count(*) FROM task_timeline")
    assert seen["timeline"]["gantt"]["marks"] == started == 17
    assert "r1" in str(seen["timeline"]["run"]["text"])
    usage = seen["usage"]
    assert usage["kind"]["marks"] == 2 and usage["model"]["marks"] == 1  # in/out; one model
    assert usage["over"]["marks"] >= 1
    assert "moonshotai/kimi-k2.6 (simulated)" in str(usage["model"]["labels"])
    failures = seen["failures"]
    assert failures["attempts"]["text"] == "2" and failures["tasks"]["text"] == "1"
    assert failures["list"]["rows"] == 2 and failures["list"]["scripts"] == 0
    assert HOSTILE_ERROR in str(failures["list"]["text"])  # shown as text, not run
    assert seen["concurrency"]["peak"]["text"] == "4"
    assert seen["concurrency"]["limit"]["text"] == "4"
    assert seen["concurrency"]["chart"]["marks"] >= 2  # the series and the limit
    # counts get whole-number ticks (a peak of 4 used to be drawn 0, 0.5, 1, …, 4)
    for ticks in (seen["concurrency"]["chart"]["yTicks"], failures["kinds"]["xTicks"]):
        assert ticks and all(str(t).replace(",", "").isdigit() for t in ticks), ticks  # type: ignore[union-attr]
    # no card cuts its content off (the concurrency page squeezed its run table)
    clipped = [
        (slug, card) for slug, cards in seen.items() for card, s in cards.items() if s["clipped"]
    ]
    assert clipped == []


def test_a_chosen_run_is_shown(server: str, browser: Browser, tmp_path: Path) -> None:
    state = _load(browser, f"{server}-/dashboards/failures?run_id=r1", tmp_path / "f.png")
    assert state["list"]["rows"] == 2
    page = browser.new_page()
    page.goto(f"{server}-/dashboards/failures?run_id=nope")
    empty = page.wait_for(
        "document.querySelector('#chart-attempts')?.innerText.trim() === '0'", timeout=20
    )
    assert empty


def test_the_served_database_cannot_be_written(recorded: RecordedRun) -> None:
    from swarm.dashboard.server import HOST, make_datasette

    assert HOST == "127.0.0.1"

    async def attempt() -> str:
        ds = make_datasette(recorded.db)
        db = ds.get_database(dashboards.DB)
        try:
            await db.execute_write("UPDATE runs SET goal = 'changed'")
        except sqlite3.OperationalError as exc:
            return str(exc)
        return "written"

    assert "readonly" in anyio.run(attempt)
    assert _count(recorded.db, "SELECT count(*) FROM runs WHERE goal = 'changed'") == 0


def test_dashboard_needs_a_database(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("dashboard", "--db", tmp_path / "missing.db")
    assert result.code == 2 and "no database at" in result.err


def _execute(db: Path, run_id: str, tasks: list[dict[str, Any]], provider: Any = None) -> None:
    async def main() -> None:
        store = await Store.open(db)
        try:
            plan = Plan.model_validate(plan_data(tasks, defaults={"retries": 0}))
            await runs.execute(
                store, plan, provider or ScriptedProvider(), runs.RunOptions(), run_id=run_id
            )
        finally:
            await store.close()

    anyio.run(main)


def test_runs_overview_charts_order_runs_alike(
    browser: Browser, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Created c, a, b: neither alphabetical nor by size, and both charts say c, a, b."""
    db = tmp_path / "three.db"
    for run_id, n in (("c-run", 1), ("a-run", 3), ("b-run", 2)):
        _execute(db, run_id, [{"id": f"t{i}", "kind": "llm", "prompt": "p" * i} for i in range(n)])
        time.sleep(0.01)  # distinct creation times
    with serving(db, tmp_path / "stderr.log") as url:
        state = _load(browser, f"{url}-/dashboards/runs", tmp_path / "runs.png")
    order = ["c-run", "a-run", "b-run"]
    assert state["statuses"]["xTicks"] == order
    assert state["costs"]["xTicks"] == order


def test_code_failures_have_real_kinds(tmp_path: Path) -> None:
    """A program killed by its wall clock is a timeout; one that exits non-zero a code failure
    (both were "failed" with kind "TaskError")."""
    db = tmp_path / "code.db"
    tasks = [
        {"id": "exits", "kind": "code", "config": {"code": "import sys; sys.exit(3)"}},
        {
            "id": "sleeps",
            "kind": "code",
            "config": {"code": "import time; time.sleep(30)", "timeout_s": 0.5},
        },
    ]
    _execute(db, "code", tasks)
    query = dashboards.failures()["charts"]["kinds"]["query"]
    with sqlite3.connect(db) as conn:
        kinds = sorted(conn.execute(query, {"run_id": "code"}).fetchall())
    assert kinds == [("CodeFailed", "failed", 1), ("CodeTimeout", "timeout", 1)]


REFRESH = "document.querySelector('meta[http-equiv=refresh]')?.getAttribute('content') ?? ''"


def test_a_live_run_page_reloads_itself_until_the_run_ends(
    browser: Browser, tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    gate = threading.Event()

    async def held(request: ModelRequest) -> str:
        if "/slow/" in request.call_key:
            await anyio.to_thread.run_sync(gate.wait, 60)
        return "ok"

    tasks = [
        {"id": "quick", "kind": "llm", "prompt": "q"},
        {"id": "slow", "kind": "llm", "prompt": "s"},
    ]
    driving = threading.Thread(
        target=_execute, args=(db, "live", tasks, ScriptedProvider(held)), daemon=True
    )
    driving.start()
    try:
        deadline = time.monotonic() + 20
        while not _is_half_done(db):
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        with serving(db, tmp_path / "stderr.log") as url:
            page = browser.new_page(height=1200)
            page.goto(f"{url}-/dashboards/progress")
            state = page.wait_for(RENDERED, timeout=30)
            assert page.evaluate(REFRESH) == str(REFRESH_S)
            assert "live: this page refreshes every" in state["run"]["text"]
            assert state["done"]["text"] == "1 of 2 (50%)"
            assert str(state["eta"]["text"]).startswith("about ")
            page.evaluate("window.__before_reload = 1")
            reloaded = page.wait_for(
                "window.__before_reload === undefined && document.readyState === 'complete'",
                timeout=REFRESH_S * 3,
            )
            assert reloaded
            gate.set()
            driving.join(timeout=30)
            assert _count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'") == 1
            page = browser.new_page(height=1200)
            page.goto(f"{url}-/dashboards/progress")
            state = page.wait_for(RENDERED, timeout=30)
            assert page.evaluate(REFRESH) == ""  # a finished run's page stays still
            assert "not running" in state["run"]["text"] and state["eta"]["text"] == "ended"
    finally:
        gate.set()
        driving.join(timeout=30)


def _is_half_done(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        return _count(db, "SELECT count(*) FROM tasks WHERE status = 'succeeded'") == 1
    except sqlite3.OperationalError:
        return False  # not migrated yet


def test_numbers_have_thousands_separators(recorded: RecordedRun, tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    with sqlite3.connect(recorded.db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
        dst.execute("UPDATE tasks SET tokens_in = 1234567 WHERE task_id = 'final'")
    charts = {**dashboards.runs_overview()["charts"], **progress()["charts"]}
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row

        def one(chart: str) -> sqlite3.Row:
            row: sqlite3.Row = conn.execute(charts[chart]["query"], {"run_id": ""}).fetchone()
            return row

        total = conn.execute("SELECT SUM(tokens_in + tokens_out) FROM tasks").fetchone()[0]
        assert total > 1_000_000
        assert one("tokens")["n"] == one("table")["tokens"] == one("run")["tokens"] == f"{total:,}"
        budgets = conn.execute(charts["budgets"]["query"], {"run_id": ""}).fetchall()
        assert ("steps", "18 of 4,000") in [(b["budget"], b["label"]) for b in budgets]


async def _paused_run(db: Path) -> str:
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": f"finding {i}"} for i in range(30)]
    plan = Plan.model_validate(plan_data(tasks, budget={"max_concurrency": 4, "max_tokens": 300}))
    store = await Store.open(db)
    try:
        summary = await runs.execute(store, plan, ScriptedProvider(), runs.RunOptions())
    finally:
        await store.close()
    return str(summary["status"])


def test_a_paused_run_says_so_and_paused_attempts_have_a_colour(tmp_path: Path) -> None:
    assert set(OUTCOMES) == ATTEMPT_STATUSES - {"succeeded"}  # every failure chart colour
    db = tmp_path / "p.db"
    assert anyio.run(_paused_run, db) == "paused"
    query = progress()["charts"]["eta"]["query"]
    with closing(sqlite3.connect(db)) as conn:
        (eta,) = conn.execute(query, {"run_id": ""}).fetchone()
        outcomes = {row[0] for row in conn.execute("SELECT outcome FROM failures")}
    assert eta.startswith("paused: a budget ran out")  # not an ETA for a run that waits
    assert "paused" in outcomes
