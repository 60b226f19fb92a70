"""Markdown, the aggregators' common text form: safe HTML for pages, and plain blocks for DOCX
and PPTX writers.

Model output is untrusted. The renderer parses it with markdown-it-py with raw HTML off (any
tag arrives escaped, as text), images shown as their alt text (a page must never fetch
anything), and links only to ``http``, ``https``, ``mailto``, in-page anchors and relative
paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def safe_link(url: str) -> bool:
    """Whether a link target may appear in an artifact (no ``javascript:``, ``data:``, …)."""
    stripped = "".join(ch for ch in url.strip() if ch.isprintable() and not ch.isspace())
    if stripped.startswith("//"):
        return False  # protocol-relative: a network address in disguise
    scheme = urlsplit(stripped).scheme.lower()
    return scheme in SAFE_SCHEMES if scheme else ":" not in stripped.split("/", 1)[0]


def parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.add_render_rule("image", _image_as_text)
    return md


def _image_as_text(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image becomes its alt text: a page never loads anything, not even a picture."""
    return escapeHtml(renderer.renderInlineAsText(tokens[idx].children or [], options, env))


_MD = parser()


def to_html(text: str) -> str:
    """Safe HTML for Markdown from anywhere (model output included)."""
    return str(_MD.render(text))


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of inline text with one style."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """A block of a document: ``heading`` (with ``level``), ``paragraph``, ``item`` (a list
    item, ``ordered`` or not, at ``level``), ``code`` or ``table`` (``rows``, header first)."""

    kind: str
    runs: tuple[Run, ...] = ()
    level: int = 0
    ordered: bool = False
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()

    @property
    def plain(self) -> str:
        return self.text or "".join(r.text for r in self.runs)


def inline_runs(token: Token) -> tuple[Run, ...]:
    """The styled runs of an inline token (links kept only if safe, as the parser ensured)."""
    runs: list[Run] = []
    bold = italic = False
    href: str | None = None
    for child in token.children or []:
        match child.type:
            case "text" | "html_inline":
                runs.append(Run(child.content, bold, italic, False, href))
            case "image":
                runs.append(Run(child.content, bold, italic, False, href))
            case "code_inline":
                runs.append(Run(child.content, bold, italic, True, href))
            case "softbreak" | "hardbreak":
                runs.append(Run(" ", bold, italic, False, href))
            case "strong_open" | "strong_close":
                bold = child.type == "strong_open"
            case "em_open" | "em_close":
                italic = child.type == "em_open"
            case "link_open":
                href = str(child.attrs.get("href", "")) or None
            case "link_close":
                href = None
    return tuple(runs)


@dataclass
class _Walker:
    blocks: list[Block] = field(default_factory=list)
    lists: list[bool] = field(default_factory=list)
    heading: int = 0
    table: list[list[str]] | None = None

    def token(self, tok: Token) -> None:
        kind = tok.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            self.lists.append(kind == "ordered_list_open")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "heading_open":
            self.heading = int(tok.tag[1:])
        elif kind in ("fence", "code_block"):
            self.blocks.append(Block("code", text=tok.content.rstrip("\n")))
        elif kind == "table_open":
            self.table = []
        elif kind == "tr_open" and self.table is not None:
            self.table.append([])
        elif kind == "table_close" and self.table is not None:
            self.blocks.append(Block("table", rows=tuple(tuple(r) for r in self.table)))
            self.table = None
        elif kind == "inline":
            self.inline(tok)

    def inline(self, tok: Token) -> None:
        runs = inline_runs(tok)
        if self.table is not None:
            self.table[-1].append("".join(r.text for r in runs))
        elif self.heading:
            self.blocks.append(Block("heading", runs, level=self.heading))
            self.heading = 0
        elif self.lists:
            level = len(self.lists) - 1
            self.blocks.append(Block("item", runs, level=level, ordered=self.lists[-1]))
        else:
            self.blocks.append(Block("paragraph", runs))


def blocks(text: str) -> list[Block]:
    """Markdown as a flat list of blocks (nested lists keep their depth as ``level``)."""
    walker = _Walker()
    for tok in _MD.parse(text):
        walker.token(tok)
    return walker.blocks


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
_AUTOLINK = re.compile(r"<(?:https?://|mailto:)[^\s<>]*>")


def escape_raw_html(text: str) -> str:
    """Markdown whose raw HTML is inert wherever it is rendered (MkDocs, Jekyll, Hugo and VS Code
    pass raw HTML through): every ``<`` outside code becomes ``\\<``, which CommonMark shows as
    ``<`` and never parses as a tag. Code fences and spans are left alone (a backslash there
    would show), as are autolinks such as ``<https://example.org>``."""
    out, fence = [], ""
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            out.append(line)
        elif opened:
            fence = opened.group(1)
            out.append(line)
        else:
            out.append(_escape_line(line))
    return "\n".join(out)


def _escape_line(line: str) -> str:
    parts, at = [], 0
    for span in _CODE_SPAN.finditer(line):
        parts += [_escape_text(line[at : span.start()]), span.group(0)]
        at = span.end()
    parts.append(_escape_text(line[at:]))
    return "".join(parts)


def _escape_text(text: str) -> str:
    kept = {m.start() for m in _AUTOLINK.finditer(text)}
    out, slashes = [], 0
    for i, ch in enumerate(text):
        bare = ch == "<" and i not in kept and slashes % 2 == 0
        out.append("\\<" if bare else ch)
        slashes = slashes + 1 if ch == "\\" else 0
    return "".join(out)
