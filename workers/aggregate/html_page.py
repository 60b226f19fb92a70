"""Standalone HTML pages: one stylesheet, a policy that forbids every fetch and every script, and
nothing from outside the page's folder."""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.aggregate.images import Picture

CSS = """\
:root { --ink: #1d2330; --muted: #5b6476; --line: #dde2ea; --accent: #2457c5; --bg: #fbfcfe; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
header.site { background: var(--ink); color: #fff; padding: 0.8rem 1.2rem; }
header.site a { color: #fff; text-decoration: none; font-weight: 600; }
nav.pages { display: flex; flex-wrap: wrap; gap: 0.4rem 1rem; padding: 0.6rem 1.2rem;
  border-bottom: 1px solid var(--line); background: #fff; }
nav.pages a { color: var(--accent); text-decoration: none; }
nav.pages a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
main { max-width: 52rem; margin: 0 auto; padding: 1.5rem 1.2rem 3rem; }
h1, h2, h3 { line-height: 1.25; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: 0.35rem 0.6rem; text-align: left; }
th { background: #eef2f8; }
pre { background: #f1f3f7; padding: 0.8rem; overflow-x: auto; border-radius: 4px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 0.92em; }
ul.cards { list-style: none; padding: 0; display: grid; gap: 0.8rem;
  grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); }
ul.cards li { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 0.8rem; }
footer { color: var(--muted); font-size: 0.85rem; text-align: center; padding: 1rem; }
p.notice { margin: 0; padding: 0.55rem 1.2rem; background: #fff4e5; color: #7a2e0e;
  border-bottom: 2px solid #b03a2e; font-weight: 600; }
figure { margin: 1.2rem 0; }
figure img { display: block; max-width: 100%; height: auto; border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.3rem; }
ul.cards li img { width: 100%; height: auto; border-radius: 4px; }
@media (max-width: 600px) { body { font-size: 15px; } main { padding: 1rem 0.8rem; } }
"""

POLICY = "default-src 'none'; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""No scripts, frames, fonts or fetches at all; styles only from the page itself or its folder."""


def page(
    title: str,
    body_html: str,
    *,
    stylesheet: str | None = None,
    head: str = "",
    images: str | None = None,
    css: str = CSS,
    body_class: str = "",
) -> str:
    """A complete HTML document. ``body_html`` must already be safe (rendered by ``markup``).
    ``images`` is the policy's image source (``'self'`` for files beside the page, ``data:``
    for images inlined in it); without it the page may show no image at all."""
    policy = POLICY + (f"; img-src {images}" if images else "")
    style = (
        f'<link rel="stylesheet" href="{escape(stylesheet)}">'
        if stylesheet
        else f"<style>\n{css}</style>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n{style}\n{head}</head>\n"
        + (f'<body class="{escape(body_class)}">' if body_class else "<body>")
        + f"\n{body_html}\n</body>\n"
        "</html>\n"
    )


def notice(label: str) -> str:
    """The banner a simulated run's pages carry above everything else."""
    return f'<p class="notice" role="note">{escape(label)}</p>\n'


def figure(picture: Picture, src: str) -> str:
    """An upstream image with its alt text (from the prompt) as alt and caption."""
    size = f' width="{picture.width}" height="{picture.height}"' if picture.width else ""
    return (
        f'<figure><img src="{escape(src)}" alt="{escape(picture.alt)}"{size}>'
        f"<figcaption>{escape(picture.alt)}</figcaption></figure>\n"
    )


def data_uri(picture: Picture) -> str:
    return f"data:{picture.mime};base64,{base64.b64encode(picture.data).decode('ascii')}"
