"""examples/mcp-research.json runs offline: its knowledge-base MCP server and its local page
feed three research agents and a document."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import docx
import pytest

from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from swarm.validation import validate_data
from tests.mcp.conftest import free_port

pytestmark = pytest.mark.anyio
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp-research.json"


async def test_example_runs_offline_and_cites_its_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLE.parents[1])  # the plan names its server relative to the repo
    port = str(free_port())  # not the example's 8765, which another run may hold
    plan = validate_data(json.loads(EXAMPLE.read_text().replace("8765", port)))
    db = tmp_path / "swarm.db"
    store = await Store.open(db)
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await runs.execute(store, plan, SimProvider(), options, run_id="ex")
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    with sqlite3.connect(db) as conn:
        tools = {r[0] for r in conn.execute("SELECT name FROM steps WHERE kind = 'tool'")}
        paths = [r[0] for r in conn.execute("SELECT path FROM artifacts WHERE task_id = 'report'")]
    assert {"kb.search", "kb.entry", "fetch"} <= tools
    (path,) = [p for p in paths if p.endswith(".docx")]
    document = docx.Document(str(tmp_path / "runs" / "ex" / path))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Heat pumps in 2026" in text and "[cop]" in text
