"""Model text becomes safe HTML: raw HTML escaped, no images, only safe link schemes."""

from __future__ import annotations

import re

import pytest

from workers.aggregate.markup import blocks, safe_link, to_html

HOSTILE = """# Title <script>alert(1)</script>

<img src=x onerror="window.__xss=1"> and <iframe src="https://evil.example"></iframe>

[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.org/a)
[proto](//evil.example/x) [vb](VBScript:msgbox) [mail](mailto:a@b.c) [rel](page.html#x)

![pixel](https://evil.example/track.png)
"""


def test_raw_html_and_scripts_are_escaped() -> None:
    html = to_html(HOSTILE)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<iframe" not in html and "&lt;img" in html


def test_only_safe_links_survive_and_images_are_never_embedded() -> None:
    html = to_html(HOSTILE)
    hrefs = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    assert hrefs == ["https://example.org/a", "mailto:a@b.c", "page.html#x"]
    assert "<p>pixel</p>" in html and "evil.example/track" not in html
    assert re.findall(r"<[a-z]+[^>]*\ssrc=", html) == []  # no element loads anything


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://a.b/c", True),
        ("http://a.b", True),
        ("mailto:x@y.z", True),
        ("#top", True),
        ("other.html", True),
        ("javascript:alert(1)", False),
        (" JaVaScRiPt:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        ("//evil.example", False),
    ],
)
def test_link_allow_list(url: str, ok: bool) -> None:
    assert safe_link(url) is ok


def test_blocks_keep_structure_for_office_writers() -> None:
    text = "## Head\n\nText **bold** [l](https://x.y)\n\n- a\n  - b\n1. c\n\n"
    found = blocks(text + "|h|i|\n|-|-|\n|1|2|\n\n```\nx = 1\n```")
    kinds = [(b.kind, b.level) for b in found]
    assert kinds == [
        ("heading", 2),
        ("paragraph", 0),
        ("item", 0),
        ("item", 1),
        ("item", 0),
        ("table", 0),
        ("code", 0),
    ]
    assert [r.href for r in found[1].runs if r.href] == ["https://x.y"]
    assert any(r.bold for r in found[1].runs) and found[4].ordered
    assert found[5].rows == (("h", "i"), ("1", "2")) and found[6].text == "x = 1"
