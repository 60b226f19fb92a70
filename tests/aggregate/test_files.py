"""Artifact files: confined to the run folder whatever the name, recorded, byte-for-byte stable."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import anyio
import pytest

from swarm.errors import TaskError
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from swarm.validation import validate_data
from tests.aggregate.conftest import context
from tests.cli.conftest import CliRunner
from workers.aggregate.files import (
    confined,
    name_problem,
    safe_name,
    stable_zip,
    task_folder,
    write_artifact,
)

HOSTILE = ["../x", "../../etc/passwd", "/etc/x", "a/../../x", "C:\\x", "..", ""]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_never_leave_the_folder(tmp_path: Path, name: str) -> None:
    cleaned = safe_name(name)
    assert "/" not in cleaned and "\\" not in cleaned and not cleaned.startswith(".")
    run_dir = tmp_path / "run"
    ctx = context(run_dir, "document", {"a": "x"}, task_id="t")
    relative = write_artifact(ctx, "file", name, b"data")
    written = (run_dir / relative).resolve()
    assert written.is_relative_to(run_dir.resolve()) and written.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("relative", ["../x", "/etc/x", "a/../../x", ""])
def test_confined_refuses_escapes(tmp_path: Path, relative: str) -> None:
    with pytest.raises(TaskError, match="inside the run's folder") as caught:
        confined(tmp_path, relative)
    assert caught.value.retryable is False


def test_a_symlink_in_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "t").symlink_to(outside)
    ctx = context(run_dir, "document", {"a": "x"}, task_id="t")
    with pytest.raises(TaskError):
        write_artifact(ctx, "file", "report.md", b"x")
    assert list(outside.iterdir()) == []


def test_plan_file_names_are_checked_before_running() -> None:
    assert name_problem("report.md") is None
    assert "absolute" in str(name_problem("/etc/x"))
    assert "'..'" in str(name_problem("../x"))
    assert "folders" in str(name_problem("a/b"))
    assert name_problem(3) is not None


def test_written_files_are_recorded_once_with_size_and_sha256(tmp_path: Path) -> None:
    ctx = context(tmp_path, "document", {"a": "x"}, task_id="map:0001")
    first = write_artifact(ctx, "document", "r.md", b"one")
    again = write_artifact(ctx, "document", "r.md", b"two!")
    assert first == again == f"{task_folder('map:0001')}/r.md"
    (record,) = ctx.artifacts
    assert record.size == 4 and record.sha256 == hashlib.sha256(b"two!").hexdigest()
    assert record.kind == "document" and not list(tmp_path.rglob("*.tmp"))


def test_stable_zip_fixes_entry_times_and_package_dates() -> None:
    def package(stamp: tuple[int, int, int, int, int, int], created: str) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            core = f"<cp><dcterms:created x='1'>{created}</dcterms:created></cp>"
            z.writestr(zipfile.ZipInfo("docProps/core.xml", stamp), core)
            z.writestr(zipfile.ZipInfo("a.txt", stamp), "same")
        return out.getvalue()

    one = stable_zip(package((2020, 1, 1, 0, 0, 0), "2020-01-01T00:00:00Z"))
    two = stable_zip(package((2024, 5, 6, 7, 8, 10), "2024-05-06T07:08:09Z"))
    assert one == two
    with zipfile.ZipFile(io.BytesIO(one)) as z:
        assert b"2000-01-01T00:00:00Z" in z.read("docProps/core.xml")


def test_names_keep_letters_of_every_script() -> None:
    assert safe_name("ümlaut 报告") == "ümlaut-报告"
    assert safe_name("u\u0308mlaut.md") == "ümlaut.md"  # NFC: one character, not two
    assert safe_name("a\u202eb\u200bc/d") == "abc-d"  # controls and invisible marks dropped
    assert safe_name("Ωμέγα_2026.xlsx") == "Ωμέγα_2026.xlsx"


def test_task_folders_differ_for_ids_that_sanitise_alike() -> None:
    ids = ["rep:x", "rep-x", "rep/x", "rep x", "REP-X", "ümlaut:报告"]
    folders = [task_folder(i) for i in ids]
    assert len(set(folders)) == len(ids)
    assert task_folder("rep-x") == "rep-x" and task_folder("rep:x").startswith("rep-x-")
    assert all(safe_name(f) == f for f in folders)


PLAN = {
    "goal": "two tasks whose ids sanitise alike",
    "tasks": [
        {"id": "notes", "kind": "llm", "prompt": "Notes."},
        {"id": "rep:x", "kind": "document", "deps": ["notes"], "config": {"formats": ["md"]}},
        {"id": "rep-x", "kind": "document", "deps": ["notes"], "config": {"formats": ["md"]}},
    ],
}


def test_no_task_overwrites_another_tasks_files_and_artifacts_lists_them_all(
    tmp_path: Path, cli: CliRunner
) -> None:
    db, folder = tmp_path / "swarm.db", tmp_path / "runs"

    async def main() -> dict[str, object]:
        store = await Store.open(db)
        try:
            options = runs.RunOptions(artifacts_dir=str(folder))
            plan = validate_data(PLAN)
            return await runs.execute(store, plan, SimProvider(), options, run_id="r")
        finally:
            await store.close()

    assert anyio.run(main)["status"] == "succeeded"
    listed = json.loads(cli("artifacts", "r", "--db", db, "--json").out)["artifacts"]
    by_task = {a["task_id"]: a["path"] for a in listed}
    assert set(by_task) == {"rep:x", "rep-x"} and len(set(by_task.values())) == 2
    on_disk = sorted(str(p.relative_to(folder / "r")) for p in (folder / "r").rglob("*.md"))
    assert on_disk == sorted(by_task.values())
