"""Images from upstream ``image`` tasks, as the aggregators embed them: found in a result,
checked on disk (inside the run folder, really an image, the size the result claims), and
described by their alt text.

An image task's result is untrusted text like any other (a model could answer something that
looks like one), so a path must resolve inside the run folder and the file's first bytes must be
a PNG, JPEG, GIF or WebP signature before any writer touches it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from swarm.errors import TaskError
from swarm.providers.images import sniff_type
from workers.aggregate.files import confined

MAX_ALT = 200
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


@dataclass(frozen=True, slots=True)
class Picture:
    """One image on disk that an artifact may embed."""

    path: Path
    """Absolute, inside the run folder."""
    alt: str
    mime: str
    data: bytes
    width: int = 0
    height: int = 0

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def is_image_result(value: Any) -> bool:
    """Whether a parsed result is what the ``image`` kind answers."""
    return (
        isinstance(value, dict)
        and value.get("kind") == "image"
        and isinstance(value.get("images"), list)
    )


def pictures_in(value: Any, run_dir: Path) -> tuple[Picture, ...]:
    """The images an ``image`` result lists, each read and checked; refuses, naming the path,
    one that is outside the run folder, missing, or not an image."""
    if not is_image_result(value):
        return ()
    alt = _alt(value.get("alt") or value.get("prompt") or "image")
    found = []
    for item in value["images"]:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise _bad(f"an image entry without a path: {item!r:.80}")
        path = confined(run_dir, item["path"])
        if not path.is_file():
            raise _bad(f"image {item['path']!r} is not in the run folder")
        data = path.read_bytes()
        mime = sniff_type(data[:16])
        if mime is None:
            raise _bad(f"{item['path']!r} is not a PNG, JPEG, GIF or WebP image")
        width, height = dimensions(data, item["path"])
        found.append(Picture(path, _alt(item.get("alt") or alt), mime, data, width, height))
    return tuple(found)


def dimensions(data: bytes, where: str) -> tuple[int, int]:
    """(width, height) of an image, decoding its header; refuses a file that does not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise TaskError(
            f"{where} does not decode as an image: {exc}",
            retryable=True,
            hint="a truncated or corrupt download; the task is tried again",
        ) from None


def raster(picture: Picture) -> bytes:
    """The image as PNG or JPEG bytes, which every office format embeds (WebP and GIF are
    converted to PNG)."""
    if picture.mime in ("image/png", "image/jpeg"):
        return picture.data
    with Image.open(io.BytesIO(picture.data)) as image:
        out = io.BytesIO()
        image.convert("RGBA").save(out, "PNG")
        return out.getvalue()


def _alt(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_ALT else line[: MAX_ALT - 1].rstrip() + "…"


def _bad(message: str) -> TaskError:
    return TaskError(message, retryable=False, hint="give the task an image task's result to embed")
