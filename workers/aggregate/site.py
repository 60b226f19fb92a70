"""The ``site`` kind: a static website from upstream results — by default an index, one page per
result, navigation on every page and one local stylesheet; with ``layout: "landing"`` one landing
page (a hero with an image, a section per result, a gallery) — see :mod:`landing`. It opens from
disk and fetches nothing: model text is rendered by :mod:`markup` (raw HTML escaped, Markdown
images shown as their alt text, safe links only), the only images are the upstream ``image``
tasks' files copied beside the pages, and every page carries a policy that forbids scripts and
any request outside its folder.

Config: ``title``, ``intro`` (Markdown under the title on the index), ``titles`` (a page title
per dependency), ``filename`` (the index page's name, ``index.html`` by default), ``layout``
(``pages`` or ``landing``), ``tagline`` (the landing hero's line under the title).
"""

from __future__ import annotations

from html import escape
from typing import ClassVar

from swarm.errors import Problem
from swarm.plan import TaskSpec
from workers.aggregate import common, html_page, landing, markup, sources
from workers.aggregate.files import safe_name
from workers.aggregate.images import Picture
from workers.base import TaskContext
from workers.rules import site as rules

STYLESHEET = "style.css"
IMAGE_PREFIX = "image-"
"""Images are copied beside the pages (an artifact is one file name in the task's folder)."""
EXCERPT_CHARS = 160


class SiteWorker:
    kind: ClassVar[str] = "site"
    description: ClassVar[str] = (
        "a static website from dependencies' results (an index and a page per result, or one "
        "landing page with a hero image), local CSS and images; opens from disk, no scripts"
    )
    default_steps: ClassVar[int] = 1

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        found = sources.sections(ctx, common.titles_of(spec), merge=False)
        label = common.SIMULATED if common.simulated(ctx) else None
        index = f"{common.stem_of(spec) if 'filename' in spec.config else 'index'}.html"
        files = [(STYLESHEET, (html_page.CSS + landing.CSS).encode())]
        images = image_files(found)
        files += [(name, picture.data) for picture, name in images.items()]
        if spec.config.get("layout") == "landing":
            files.append((index, landing.page(ctx, found, images, label, STYLESHEET)))
        else:
            files += pages(ctx, found, images, index, label)
        paths = [await common.write(ctx, "site", name, data) for name, data in files]
        return common.summary(self.kind, paths, index=paths[len(images) + 1])


def image_files(found: list[sources.Section]) -> dict[Picture, str]:
    """A file name beside the pages for every upstream picture (named by its content, so the
    same image twice is one file)."""
    return {p: f"{IMAGE_PREFIX}{p.sha256[:12]}.{p.extension}" for s in found for p in s.pictures}


def pages(
    ctx: TaskContext,
    found: list[sources.Section],
    images: dict[Picture, str],
    index: str,
    label: str | None,
) -> list[tuple[str, bytes]]:
    """The index (a card per result) and a page per result, with navigation and a pager."""
    title = common.title_of(ctx.spec)
    names = page_names(found, index)
    nav = [(index, "Overview"), *((names[s.id], s.title) for s in found)]
    intro = markup.to_html(str(ctx.spec.config.get("intro", "")))
    cards = "\n".join(_card(s, names[s.id], images) for s in found)
    body = f'<h1>{escape(title)}</h1>\n{intro}<ul class="cards">\n{cards}\n</ul>'
    out = [(index, _page(title, title, nav, index, body, label))]
    for n, section in enumerate(found):
        figures = "".join(html_page.figure(p, images[p]) for p in section.pictures)
        body = (
            f"<h1>{escape(section.title)}</h1>\n{figures}{markup.to_html(section.markdown)}"
            f'<p class="source">Source: task <code>{escape(section.id)}</code></p>\n'
            f"{_pager(nav, n + 1)}"
        )
        page = _page(title, f"{section.title} · {title}", nav, names[section.id], body, label)
        out.append((names[section.id], page))
    return out


def _card(section: sources.Section, href: str, images: dict[Picture, str]) -> str:
    thumb = ""
    if section.pictures:
        first = section.pictures[0]
        thumb = f'<img src="{escape(images[first])}" alt="{escape(first.alt)}">'
    return (
        f'<li>{thumb}<a href="{escape(href)}">{escape(section.title)}</a>'
        f"<p>{escape(excerpt(section))}</p></li>"
    )


def page_names(found: list[sources.Section], index: str) -> dict[str, str]:
    """A distinct, safe file name for each section's page."""
    taken = {index, STYLESHEET}
    names = {}
    for section in found:
        base = safe_name(section.id, "page").lower()
        name, n = f"{base}.html", 2
        while name in taken:
            name, n = f"{base}-{n}.html", n + 1
        taken.add(name)
        names[section.id] = name
    return names


def excerpt(section: sources.Section) -> str:
    """A card's line: the record's own summary text, else the first paragraph or item."""
    line = " ".join(section.summary.split())
    if not line:
        for block in markup.blocks(section.markdown):
            if block.kind in ("paragraph", "item"):
                line = " ".join(block.plain.split())
                break
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"


def _page(
    site: str,
    title: str,
    nav: list[tuple[str, str]],
    current: str,
    body: str,
    label: str | None,
) -> bytes:
    links = "\n".join(
        f'<a href="{escape(href)}"'
        + (' aria-current="page"' if href == current else "")
        + f">{escape(name)}</a>"
        for href, name in nav
    )
    html = (
        (html_page.notice(label) if label else "")
        + f'<header class="site"><a href="{escape(nav[0][0])}">{escape(site)}</a></header>\n'
        f'<nav class="pages">\n{links}\n</nav>\n<main>\n{body}\n</main>\n'
        "<footer>Generated by swarm from the run's task results.</footer>"
    )
    return html_page.page(title, html, stylesheet=STYLESHEET, images="'self'").encode()


def _pager(nav: list[tuple[str, str]], at: int) -> str:
    links = []
    if at > 0:
        links.append(
            f'<a rel="prev" href="{escape(nav[at - 1][0])}">← {escape(nav[at - 1][1])}</a>'
        )
    if at + 1 < len(nav):
        links.append(
            f'<a rel="next" href="{escape(nav[at + 1][0])}">{escape(nav[at + 1][1])} →</a>'
        )
    return f'<nav class="pager">{" · ".join(links)}</nav>'
