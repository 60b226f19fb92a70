"""The agent's tools: workspace path checks, file tools, caps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.workers.conftest import FakeSandbox
from workers.sandbox import Limits
from workers.tools import MAX_FILE_BYTES, MAX_LISTED, Toolbox, ToolError, cap_text, inside


@pytest.fixture
def box(tmp_path: Path) -> Toolbox:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return Toolbox(workspace, {"dep": "its result"}, FakeSandbox(), Limits())


@pytest.mark.parametrize(
    "path",
    ["../x", "a/../../x", "/etc/passwd", "/", "", "a\0b", "./../ws2/x"],
)
def test_paths_outside_the_workspace_are_refused(box: Toolbox, path: str) -> None:
    with pytest.raises(ToolError):
        inside(box.workspace, path)


def test_paths_inside_are_resolved(box: Toolbox) -> None:
    root = box.workspace.resolve()
    assert inside(box.workspace, "a/b/../c.txt") == root / "a" / "c.txt"
    assert inside(box.workspace, ".") == root


def test_symlinks_are_followed_before_the_check(box: Toolbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    (box.workspace / "escape").symlink_to(secret)
    (box.workspace / "escape_dir").symlink_to(tmp_path)
    (box.workspace / "fine").symlink_to("data.txt")
    (box.workspace / "data.txt").write_text("ok")
    for path in ("escape", "escape_dir/secret.txt"):
        with pytest.raises(ToolError, match="outside your workspace"):
            box.read_file(path)
    with pytest.raises(ToolError, match="outside your workspace"):
        box.write_file("escape", "overwritten")
    assert secret.read_text() == "do not read"
    assert box.read_file("fine").text == "ok"


def test_write_read_and_list(box: Toolbox) -> None:
    assert box.write_file("a/b/c.txt", "héllo").text == "wrote 6 bytes to a/b/c.txt"
    assert box.read_file("a/b/c.txt").text == "héllo"
    box.write_file("top.txt", "")
    os.symlink(box.workspace / "a", box.workspace / "link")
    listing = box.list_files().text.splitlines()
    assert listing[0] == "top.txt  0 bytes"
    assert listing[1].startswith("link  ") and listing[1].endswith(" -> (link)")
    assert listing[2:] == ["a/b/c.txt  6 bytes"]  # the linked directory is not walked
    assert box.list_files("a").text == "a/b/c.txt  6 bytes"
    with pytest.raises(ToolError, match="not a directory"):
        box.list_files("top.txt")
    with pytest.raises(ToolError, match="is a directory"):
        box.read_file("a")
    with pytest.raises(ToolError, match="not the workspace itself"):
        box.write_file(".", "x")


def test_sizes_are_capped(box: Toolbox) -> None:
    with pytest.raises(ToolError, match="byte limit"):
        box.write_file("big", "x" * (MAX_FILE_BYTES + 1))
    (box.workspace / "big").write_bytes(b"y" * (MAX_FILE_BYTES + 10))
    text = box.read_file("big").text
    assert text.startswith("y" * 100) and text.endswith("the rest was not read]")
    for i in range(MAX_LISTED + 5):
        (box.workspace / f"f{i:03}").write_text("")
    lines = box.list_files().text.splitlines()
    assert len(lines) == MAX_LISTED + 1 and "listing stopped" in lines[-1]


def test_read_result(box: Toolbox) -> None:
    assert box.read_result("dep").text == "its result"
    with pytest.raises(ToolError, match="the results you can read: dep"):
        box.read_result("other")


def test_cap_text_keeps_both_ends() -> None:
    text = "start" + "." * 1000 + "end"
    capped = cap_text(text, 100)
    assert capped.startswith("start") and capped.endswith("end")
    assert "characters cut" in capped and len(capped) < 140
    assert cap_text("short", 100) == "short"
    assert cap_text("abcdefgh", 2).startswith("a")
