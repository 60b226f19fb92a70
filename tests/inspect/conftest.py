"""A real recorded run to inspect: retries, a permanent failure with skipped dependents, hostile
model output, an artifact, and the run metrics stored as the run's end will store them."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.errors import ProviderError
from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.runtime.metrics import record_run_metrics
from swarm.store.store import Store
from tests.cli.conftest import cli  # noqa: F401 - the in-process CLI fixture
from tests.fakes import ScriptedProvider, plan_data
from tests.inspect.browser import Browser, chromium, find_chromium

RUN_ID = "r1"
HOSTILE_RESULT = '<img src=x onerror="window.__xss=1">'
HOSTILE_ERROR = "<script>window.__xss=2</script> & boom"
SOURCES = 12


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class RecordedRun:
    db: Path | str
    """The SQLite file (or, copied, a PostgreSQL URL)."""
    run_id: str
    folder: Path
    """The run's artifact folder."""
    artifact: str
    """The relative path of the one artifact recorded."""


def inspect_plan() -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [
        {"id": f"src-{i:02d}", "kind": "llm", "prompt": f"source {i}"} for i in range(SOURCES)
    ]
    tasks += [
        {"id": "flaky", "kind": "llm", "prompt": "flaky", "retries": 2},
        {"id": "boom", "kind": "llm", "prompt": "boom", "retries": 0},
        {"id": "after-boom", "kind": "llm", "prompt": "after", "deps": ["boom"]},
        {"id": "hostile", "kind": "llm", "prompt": "hostile", "deps": ["src-00"]},
        {
            "id": "merge",
            "kind": "llm",
            "prompt": "merge",
            "deps": [*(f"src-{i:02d}" for i in range(SOURCES)), "flaky", "hostile"],
        },
        {"id": "final", "kind": "llm", "prompt": "final", "deps": ["merge"]},
    ]
    return plan_data(tasks, budget={"max_concurrency": 4}, defaults={"retries": 1})


async def answer(request: ModelRequest) -> str:
    _, task, attempt, _ = request.call_key.split("/")
    await anyio.sleep(0.03 if task.startswith("src") else 0.02)
    if task == "boom":
        raise ProviderError(HOSTILE_ERROR, retryable=False, status=400)
    if task == "flaky" and attempt == "1":
        raise ProviderError("flaky upstream (HTTP 503)", retryable=True, status=503)
    if task == "hostile":
        return HOSTILE_RESULT
    return f"answer for {task}"


async def record(db: Path, artifacts: Path) -> None:
    store = await Store.open(db)
    try:
        options = runs.RunOptions(artifacts_dir=str(artifacts))
        plan = Plan.model_validate(inspect_plan())
        await runs.execute(store, plan, ScriptedProvider(answer), options, run_id=RUN_ID)
        await record_run_metrics(store, RUN_ID)  # what the run's end does (see the lead's note)
    finally:
        await store.close()


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    base = tmp_path_factory.mktemp("inspect")
    db, artifacts = base / "swarm.db", base / "swarm-runs"
    anyio.run(record, db, artifacts)
    folder = artifacts / RUN_ID
    relative = "merge/notes <draft>.md"
    file = folder / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("# notes\n", encoding="utf-8")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO artifacts (run_id, task_id, kind, path, size, sha256, created_at)"
            " VALUES (?, 'merge', 'document', ?, ?, ?, ?)",
            (RUN_ID, relative, file.stat().st_size, digest, time.time()),
        )
    return RecordedRun(db, RUN_ID, folder, relative)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's package; .ci/run installs it)."""
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does this)")
    with chromium() as running:
        yield running
