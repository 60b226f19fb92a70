"""Writing artifacts safely: confined to the run's folder, recorded, and byte-for-byte stable.

Paths come from plans and, indirectly, from models, so none is trusted: names are sanitised,
absolute paths and ``..`` are refused, and the resolved target must lie inside the run's folder
with no symlink on the way. Office files are ZIP packages whose entries carry timestamps;
:func:`stable_zip` rewrites them (and the package's creation dates) to fixed values, so the same
inputs give the same sha256 after a resume.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import time
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath

from swarm.errors import TaskError
from swarm.store.ops import ArtifactRecord
from workers.base import TaskContext
from workers.rules.common import name_problem as name_problem  # its old home, kept as a name

FIXED_TIME = dt.datetime(2000, 1, 1, 0, 0, 0)
"""The date written into every package's properties and ZIP entries."""
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_UNSAFE = re.compile(r"[^\w.-]+")
"""Anything but letters and digits of any script, ``_``, ``.`` and ``-`` (after NFC)."""
_CORE_DATES = re.compile(
    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:(?:created|modified)>)"
)
_STAMP = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
MAX_NAME = 100


def safe_name(name: str, default: str = "artifact") -> str:
    """One path component made of safe characters: no separators, no leading dots.

    Letters and digits of every script are kept (NFC-normalised, so an ``ü`` typed as ``u`` and
    a combining mark is one character), so "ümlaut 报告" stays "ümlaut-报告"; anything else
    (separators, spaces, controls, punctuation) becomes ``-``.
    """
    text = unicodedata.normalize("NFC", name.strip())
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    cleaned = _UNSAFE.sub("-", text).strip("-.")[:MAX_NAME].strip("-.")
    return cleaned or default


def task_folder(task_id: str) -> str:
    """The folder of a task's files, distinct for distinct ids: the id itself when it is already
    a safe name, else its safe form plus a short hash of the id (``rep:x`` and ``rep-x`` would
    otherwise share ``rep-x`` and one task's files would overwrite the other's)."""
    cleaned = safe_name(task_id, "task")
    if cleaned == task_id:
        return cleaned
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: MAX_NAME - 9]}-{digest}"


def confined(run_dir: Path, relative: str) -> Path:
    """The absolute target for ``relative`` under ``run_dir``, or a refusal.

    Refuses absolute paths, ``..``, and any symlink between the run folder and the target (a
    symlink planted in the folder could point anywhere).
    """
    rel = PurePosixPath(relative.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise _refused(relative)
    root = run_dir.resolve()
    target = root.joinpath(*rel.parts)
    probe = root
    for part in rel.parts:
        probe = probe / part
        if probe.is_symlink():
            raise _refused(relative)
    if not target.resolve().is_relative_to(root):
        raise _refused(relative)
    return target


def _refused(relative: str) -> TaskError:
    return TaskError(
        f"refused to write {relative!r}: artifacts stay inside the run's folder",
        retryable=False,
        hint="use a plain file name in the task's config",
    )


def write_artifact(ctx: TaskContext, kind: str, name: str, data: bytes) -> str:
    """Write ``data`` as ``<task folder>/<name>`` under the run folder and record it.

    Returns the path relative to the run folder (forward slashes). The write is atomic (a
    temporary file renamed over the target), so a crash never leaves half a file.
    """
    relative = f"{task_folder(ctx.spec.id)}/{safe_name(name)}"
    target = confined(ctx.run_dir, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    confined(ctx.run_dir, relative)  # again, now that the folder exists
    temp = target.with_name(f".{target.name}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
    ctx.artifacts[:] = [a for a in ctx.artifacts if a.path != relative]
    ctx.artifacts.append(
        ArtifactRecord(
            kind=kind,
            path=relative,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=time.time(),
        )
    )
    return relative


def stable_zip(data: bytes) -> bytes:
    """The same ZIP package with fixed entry times and fixed creation dates in its properties
    (recursing into embedded workbooks, as a chart in a deck carries one)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            body = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                body = _CORE_DATES.sub(rb"\g<1>" + _STAMP + rb"\g<2>", body)
            elif entry.filename.endswith((".xlsx", ".docx", ".pptx")):
                body = stable_zip(body)
            info = zipfile.ZipInfo(entry.filename, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, body)
    return out.getvalue()
