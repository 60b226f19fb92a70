"""The ``site`` kind: pages written safely from hostile model text, then rendered from disk in
headless Chromium — every page loads, every local link resolves, nothing is fetched from
outside the site's folder, no script runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarm.errors import TaskError
from tests.aggregate.conftest import context, image_result, problems, run, unlabelled
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
    ctx = context(tmp_path, "site", inputs, config, provider=unlabelled())
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


LANDING = {"layout": "landing", "title": "Tidewell", "tagline": "Store the night's power.",
           "intro": "A battery <script>x()</script> for your heat pump.",
           "titles": {"pitch": "Why it", "specs": "Specifications"}}  # fmt: skip


def build_landing(tmp_path: Path) -> Path:
    inputs = {
        "hero": image_result(tmp_path, "hero", "A battery at dusk", aspect_ratio="16:9"),
        "pitch": HOSTILE,
        "specs": json.dumps([{"spec": "Capacity", "value": "10 kWh"}] * 3),
        "more": image_result(tmp_path, "more", "Close-ups", count=2, aspect_ratio="4:3"),
    }
    ctx = context(tmp_path, "site", inputs, LANDING, task_id="landing")
    summary = json.loads(run(ctx))
    assert summary["index"] == "landing/index.html"
    names = sorted(p.rsplit("/", 1)[1] for p in summary["artifacts"])
    assert len(names) == 5 and all(n.startswith("image-") for n in names[:3])  # 3 pictures
    assert names[3:] == ["index.html", "style.css"]
    return tmp_path / "landing" / "index.html"


def test_a_landing_page_has_a_hero_sections_and_a_gallery(tmp_path: Path) -> None:
    html = build_landing(tmp_path).read_text()
    assert '<header class="hero">' in html and html.count("<section") == 3  # 2 bands, gallery
    assert "img-src 'self'" in html and "default-src 'none'" in html and "<script" not in html
    assert 'alt="A battery at dusk"' in html and 'alt="Close-ups"' in html
    assert '<p class="notice" role="note">Simulated:' in html  # the sim made it
    css = (tmp_path / "landing/style.css").read_text()
    assert "@media (prefers-reduced-motion: reduce)" in css and "@keyframes rise" in css


def test_the_landing_page_renders_on_desktop_and_phone_without_outside_requests(
    tmp_path: Path, browser: Browser
) -> None:
    index = build_landing(tmp_path)
    folder = index.parent
    layout = """(() => {
        const box = s => document.querySelector(s).getBoundingClientRect();
        const h1 = box('.hero h1'), art = box('.hero figure');
        return {images: [...document.images].map(i => [i.naturalWidth, i.src]),
                scripts: document.scripts.length,
                wide: document.documentElement.scrollWidth <= window.innerWidth,
                side: art.left >= h1.right, stacked: art.bottom <= h1.top,
                motion: getComputedStyle(document.querySelector('section.band')).animationName};
    })()"""
    found = {}
    for name, width in (("desktop", 1280), ("phone", 375)):
        page = browser.new_page(width=width, height=800)
        page.goto(index.as_uri())
        found[name] = page.evaluate(layout)
        assert [u for u in page.requests if not u.startswith(folder.as_uri())] == []
        assert page.failed_requests == [] and not page.console_errors
    desktop, phone = found["desktop"], found["phone"]
    assert len(desktop["images"]) == 3 and all(w > 0 for w, _ in desktop["images"])
    assert desktop["scripts"] == 0 and desktop["wide"] and phone["wide"]
    assert desktop["side"] and not desktop["stacked"]  # hero image beside the text
    assert phone["stacked"]  # and above it on a phone
    assert desktop["motion"] == "rise"
    calm = browser.new_page(width=1280, height=800)
    calm.send("Emulation.setEmulatedMedia",
              {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})  # fmt: skip
    calm.goto(index.as_uri())
    assert calm.evaluate(layout)["motion"] == "none"


def test_site_pages_show_upstream_images_with_their_alt_text(tmp_path: Path) -> None:
    inputs = {"pic": image_result(tmp_path, "pic", "A red kite"), "notes": "Words."}
    ctx = context(tmp_path, "site", inputs, task_id="site")
    run(ctx)
    page = (tmp_path / "site/pic.html").read_text()
    assert '<img src="image-' in page and 'alt="A red kite"' in page
    index = (tmp_path / "site/index.html").read_text()
    assert 'alt="A red kite"' in index and "Simulated:" in index


def test_an_image_result_pointing_outside_the_run_or_at_a_non_image_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t/notes.png").write_text("not a picture")
    for path, message in (("../../etc/passwd", "inside the run"), ("t/notes.png", "not a PNG")):
        fake = json.dumps({"kind": "image", "prompt": "p", "images": [{"path": path}]})
        ctx = context(tmp_path, "site", {"x": fake})
        with pytest.raises(TaskError, match=message):
            run(ctx)


def test_a_record_card_shows_its_summary_and_its_page_a_readable_table(tmp_path: Path) -> None:
    firm = {"name": "Acme", "country": "PL", "founded_year": 1981, "summary": "Makes pumps."}
    ctx = context(tmp_path, "site", {"acme": json.dumps(firm)}, provider=unlabelled())
    ctx.dep_titles["acme"] = "Acme Heat"
    run(ctx)
    index = (tmp_path / "agg/index.html").read_text()
    assert '<a href="acme.html">Acme Heat</a><p>Makes pumps.</p>' in index
    page = (tmp_path / "agg/acme.html").read_text()
    assert "<td>Founded year</td>" in page and page.index("Name") < page.index("Country")
