"""`swarm dashboard`: Datasette and the bundled dashboards over a real run, read-only and
offline, loaded in headless Chromium."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from swarm.dashboard import dashboards
from tests.cli.conftest import CliRunner
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
