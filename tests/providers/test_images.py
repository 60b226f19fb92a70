"""Images for image_input: local files become data URIs after a type and size check."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from swarm.errors import ProviderError
from swarm.providers.images import image_input, sniff_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 16


@pytest.mark.parametrize(
    ("head", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (b"GIF89a...", "image/gif"), (WEBP, "image/webp")],
)
def test_types_are_read_from_the_first_bytes(head: bytes, mime: str) -> None:
    assert sniff_type(head) == mime


def test_a_local_image_becomes_a_data_uri(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    uri = image_input(str(path))
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == PNG


def test_relative_paths_resolve_against_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(JPEG)
    assert image_input("photo.jpg", base_dir=tmp_path).startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    "ref", ["https://example.com/a.png", "http://localhost/b.png", "data:image/png;base64,AAAA"]
)
def test_urls_and_data_uris_pass_through(ref: str) -> None:
    assert image_input(ref) == ref


def test_a_missing_file_is_a_clear_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="no such file") as caught:
        image_input(str(tmp_path / "nope.png"))
    assert not caught.value.retryable


def test_a_file_that_is_not_an_image_is_refused_even_with_an_image_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just text")
    with pytest.raises(ProviderError, match="not a PNG, JPEG, GIF or WebP"):
        image_input(str(path))


def test_an_image_too_large_to_inline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(PNG + b"\x00" * 2000)
    with pytest.raises(ProviderError, match="host it and pass its https URL"):
        image_input(str(path), max_bytes=1000)
