"""HTML to readable text for the fetch tool, with the standard library's parser: headings as
Markdown ``#`` lines, list items as ``-``, links as ``text (url)``, paragraphs apart, and
scripts, styles and other non-content elements dropped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}
BLOCK = {"p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "br",
         "table", "tr", "ul", "ol", "pre", "blockquote", "hr", "form", "figure"}  # fmt: skip
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.href: str | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in SKIP:
            self.skipping += 1
        elif tag in HEADINGS:
            self.out.append("\n\n" + "#" * HEADINGS[tag] + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in {"td", "th"}:
            self.out.append(" ")
        elif tag in {"br", "tr"}:
            self.out.append("\n")
        elif tag in BLOCK:
            self.out.append("\n\n")
        elif tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in HEADINGS or tag in BLOCK:
            self.out.append("\n\n")
        elif tag == "a" and self.href:
            if self.href.startswith(("http://", "https://")):
                self.out.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self.skipping:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML page (its title first, as a heading, when it has one)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    body = "".join(parser.out)
    lines = [line.strip() for line in body.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = parser.title.strip()
    if title and not text.startswith(f"# {title}"):
        text = f"# {title}\n\n{text}"
    return text
