"""The ``site`` kind: pages written safely from hostile model text, then rendered from disk in
headless Chromium — every page loads, every local link resolves, nothing is fetched from
outside the site's folder, no script runs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.aggregate.conftest import context, problems, run
from tests.inspect.browser import Browser

HOSTILE = """Findings <script>window.__xss=1</script> and <img src=x onerror="window.__xss=2">.

[run me](javascript:window.__xss=3) [source](https://example.org/paper)

![tracker](https://evil.example/pixel.png)

<style>body{display:none}</style>
"""
RECORDS = json.dumps(
    [{"company": "Acme <b>", "revenue": 12.5}, {"company": "Globex", "revenue": 7}]
)


def build(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    inputs = {"hostile": HOSTILE, "firms": RECORDS, "a..b": "plain **text**"}
    config = {"title": "Market <map>", "intro": "An *intro* <script>x()</script>",
              "titles": {"firms": "Companies & co"}}  # fmt: skip
    ctx = context(tmp_path, "site", inputs, config)
    summary = json.loads(run(ctx))
    return tmp_path / "agg", summary


def test_pages_escape_model_html_and_link_only_safely(tmp_path: Path) -> None:
    folder, summary = build(tmp_path)
    assert summary["artifacts"] == [
        "agg/style.css", "agg/index.html", "agg/hostile.html", "agg/firms.html", "agg/a..b.html",
    ]  # fmt: skip
    assert summary["index"] == "agg/index.html"
    for page in folder.glob("*.html"):
        html = page.read_text()
        assert "<script" not in html and "<img" not in html and "<style>body" not in html
        assert "javascript:" not in html.replace("[run me](javascript:", "")
        assert "Content-Security-Policy" in html and "default-src 'none'" in html
    hostile = (folder / "hostile.html").read_text()
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in hostile
    assert '<a href="https://example.org/paper">source</a>' in hostile
    index = (folder / "index.html").read_text()
    assert "<title>Market &lt;map&gt;</title>" in index and "Companies &amp; co" in index


def test_the_site_renders_from_disk_without_any_outside_request(
    tmp_path: Path, browser: Browser
) -> None:
    folder, _ = build(tmp_path)
    pages = sorted(folder.glob("*.html"))
    assert len(pages) == 4  # index and one page per dependency
    page = browser.new_page(width=1200, height=900)
    seen: set[str] = set()
    for file in pages:
        page.goto(file.as_uri())
        found = page.evaluate(
            """({
            title: document.title,
            scripts: document.scripts.length,
            images: document.images.length,
            xss: window.__xss === undefined ? null : window.__xss,
            header: getComputedStyle(document.querySelector('header.site')).backgroundColor,
            nav: [...document.querySelectorAll('nav.pages a')].map(a => a.href),
            links: [...document.querySelectorAll('a[href]')].map(a => a.href),
            text: document.body.innerText,
        })"""
        )
        assert found["scripts"] == 0 and found["images"] == 0 and found["xss"] is None
        assert found["header"] == "rgb(29, 35, 48)"  # the local stylesheet applied
        assert len(found["nav"]) == 4 and found["title"]
        for link in found["links"]:
            if link.startswith("file://"):
                target = Path(link.removeprefix("file://").split("#")[0])
                assert target.is_file() and target.parent == folder, link
                seen.add(target.name)
            else:
                assert link in ("https://example.org/paper",), link
        if file.name == "hostile.html":
            assert "<script>window.__xss=1</script>" in found["text"]  # shown, not run
    assert seen == {p.name for p in pages}
    outside = [u for u in page.requests if not u.startswith("file://")]
    assert outside == [] and page.failed_requests == []
    assert not page.console_errors
    page.goto((folder / "index.html").as_uri())
    shot = page.screenshot(tmp_path / "site.png")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 2000
    phone = browser.new_page(width=375, height=700)  # responsive: no sideways scrolling
    phone.goto((folder / "firms.html").as_uri())
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_config_problems() -> None:
    assert problems("site", {"title": "T", "intro": "x"}) == []
    found = problems("site", {"intro": 3, "pages": []})
    assert any("config.intro" in p for p in found) and any("pages" in p for p in found)
