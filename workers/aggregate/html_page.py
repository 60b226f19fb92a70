"""Standalone HTML pages: one stylesheet, a policy that forbids every fetch and every script, and
nothing from outside the page's folder."""

from __future__ import annotations

from html import escape

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
@media (max-width: 600px) { body { font-size: 15px; } main { padding: 1rem 0.8rem; } }
"""

POLICY = "default-src 'none'; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""No scripts, frames, fonts or fetches at all; styles only from the page itself or its folder."""


def page(title: str, body_html: str, *, stylesheet: str | None = None, head: str = "") -> str:
    """A complete HTML document. ``body_html`` must already be safe (rendered by ``markup``)."""
    style = (
        f'<link rel="stylesheet" href="{escape(stylesheet)}">'
        if stylesheet
        else f"<style>\n{CSS}</style>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n{style}\n{head}</head>\n<body>\n{body_html}\n</body>\n"
        "</html>\n"
    )
