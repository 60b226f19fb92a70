"""Images for a model call: local files become ``data:`` URIs, after a type and size check.

URLs (``https://``, ``http://``) and ``data:`` URIs pass through unchanged. A file's type is
read from its first bytes, not its name, so a mislabelled file is caught before it is sent.
"""

from __future__ import annotations

import base64
from pathlib import Path

from swarm.errors import ProviderError

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""Larger files make request bodies too big to send inline; host them and pass a URL."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
PASS_THROUGH = ("https://", "http://", "data:")


def sniff_type(head: bytes) -> str | None:
    """The image MIME type of a file from its first bytes (PNG, JPEG, GIF, WebP), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    return None


def image_input(ref: str, *, base_dir: Path | None = None, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """A value for the model's ``image_input``: a URL as is, or a local image as a data URI."""
    if ref.startswith(PASS_THROUGH):
        return ref
    path = Path(ref).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise _bad(f"image {ref!r}: no such file", "give a path to an image file, or an https URL")
    size = path.stat().st_size
    if size > max_bytes:
        raise _bad(
            f"image {ref!r} is {size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB "
            "that may be sent inline",
            "shrink the image, or host it and pass its https URL instead",
        )
    data = path.read_bytes()
    mime = sniff_type(data[:16])
    if mime is None:
        raise _bad(f"image {ref!r} is not a PNG, JPEG, GIF or WebP file", "convert it to PNG")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_inputs(refs: tuple[str, ...], *, base_dir: Path | None = None) -> list[str]:
    return [image_input(ref, base_dir=base_dir) for ref in refs]


def _bad(message: str, hint: str) -> ProviderError:
    return ProviderError(message, retryable=False, hint=hint)
