"""Artifact files: confined to the run folder whatever the name, recorded, byte-for-byte stable."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from swarm.errors import TaskError
from tests.aggregate.conftest import context
from workers.aggregate.files import confined, name_problem, safe_name, stable_zip, write_artifact

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
    assert first == again == "map-0001/r.md"
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
