"""The ``document`` kind: upstream results (and, if the plan gives an outline, one model pass
that writes to it) combined into Markdown, a styled standalone HTML file and DOCX.

Config: ``title``, ``outline`` (section headings the model writes), ``formats`` (any of
``md``, ``html``, ``docx``; all by default), ``filename`` (the files' base name), ``titles``
(a heading for each dependency's section), ``intro`` (text under the title).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from swarm.errors import Problem
from swarm.plan import TaskSpec
from workers.aggregate import common, html_page, markup, sources
from workers.aggregate.docx_writer import render_docx
from workers.aggregate.files import task_folder
from workers.aggregate.images import Picture
from workers.base import TaskContext
from workers.rules import document as rules
from workers.rules.document import FORMATS


class DocumentWorker:
    kind: ClassVar[str] = "document"
    description: ClassVar[str] = (
        "combine dependencies' results (optionally a model pass writing to an outline) into "
        "a report as Markdown, standalone HTML and DOCX"
    )
    default_steps: ClassVar[int] = 1 + common.REASKS

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        title = common.title_of(spec)
        label = common.SIMULATED if common.simulated(ctx) else None
        parts = await compose(ctx, title, label)
        stem = common.stem_of(spec)
        folder = ctx.run_dir / task_folder(spec.id)
        formats = spec.config.get("formats", list(FORMATS))
        paths = []
        if "md" in formats:
            text = as_markdown(parts, folder, ctx.run_dir)
            paths.append(await common.write(ctx, "document", f"{stem}.md", text.encode()))
        if "html" in formats:
            html = await common.off_loop(as_html, title, parts, label)
            paths.append(await common.write(ctx, "document", f"{stem}.html", html.encode()))
        if "docx" in formats:
            data = await common.off_loop(render_docx, title, as_blocks(parts), label=label)
            paths.append(await common.write(ctx, "document", f"{stem}.docx", data))
        return common.summary(self.kind, paths, title=title)


Part = str | Picture
"""A stretch of the document: Markdown, or an image from an upstream ``image`` task."""


async def compose(ctx: TaskContext, title: str, label: str | None = None) -> list[Part]:
    """The document: title, a simulated run's notice, intro, outline sections, upstream
    sections (their images as figures), sources. Text from models and tools has its raw HTML
    made inert, so the Markdown file is as safe to render as the HTML one."""
    spec = ctx.spec
    parts: list[Part] = [f"# {_one_line(title)}"]
    if label:
        parts.append(f"> **{label}**")
    if intro := str(spec.config.get("intro", "")).strip():
        parts.append(intro)
    outline = [str(h) for h in spec.config.get("outline", [])]
    if outline:
        written = await write_outline(ctx, title, outline)
        for heading, body in zip(outline, written, strict=True):
            parts += [f"## {_one_line(heading)}", markup.escape_raw_html(body.strip())]
    found = sources.sections(ctx, common.titles_of(spec))
    for section in found:
        parts.append(f"## {_one_line(section.title)}")
        parts += section.pictures or [markup.escape_raw_html(section.markdown)]
    cited = sources.urls([ctx.inputs.get(i, "") for s in found for i in s.ids])
    listed = [f"- {t} (task `{i}`)" for s in found for i, t in zip(s.ids, s.labels, strict=True)]
    parts += ["## Sources", "\n".join(listed + [f"- <{url}>" for url in cited])]
    return [p for p in parts if p]


def as_markdown(parts: list[Part], folder: Path, run_dir: Path) -> str:
    """The Markdown file: images as relative links to the image task's files."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        link = os.path.relpath(part.path, folder).replace(os.sep, "/")
        alt = part.alt.replace("\\", "\\\\").replace("]", "\\]").replace("[", "\\[")
        out.append(f"![{markup.escape_raw_html(alt)}](<{link}>)")
    return "\n\n".join(out) + "\n"


def as_html(title: str, parts: list[Part], label: str | None) -> str:
    """The standalone HTML page: images inlined as ``data:`` URIs (one file, no fetch)."""
    body = []
    text: list[str] = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
            continue
        body.append(markup.to_html("\n\n".join(text)))
        text = []
        body.append(html_page.figure(part, html_page.data_uri(part)))
    body.append(markup.to_html("\n\n".join(text)))
    notice = html_page.notice(label) if label else ""
    return html_page.page(title, f"{notice}<main>\n{''.join(body)}</main>", images="data:")


def as_blocks(parts: list[Part]) -> list[markup.Block | Picture]:
    out: list[markup.Block | Picture] = []
    for part in parts:
        out += markup.blocks(part) if isinstance(part, str) else [part]
    return out


async def write_outline(ctx: TaskContext, title: str, outline: list[str]) -> list[str]:
    """One model pass that writes a Markdown body for each heading of the outline."""
    keys = [f"section_{i + 1}" for i in range(len(outline))]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            k: {"type": "string", "description": f"Markdown body of the section {h!r}"}
            for k, h in zip(keys, outline, strict=True)
        },
        "required": keys,
        "additionalProperties": False,
    }
    headings = "\n".join(f"- {k}: {h}" for k, h in zip(keys, outline, strict=True))
    instructions = (
        f"{ctx.spec.prompt.strip() or 'Write the document from the material below.'}\n\n"
        f"Document title: {title}\nWrite the body of each section of this outline in Markdown "
        f"(no headings of your own), using the results of the tasks below:\n{headings}\n\n"
        "## Results of the tasks this one depends on"
    )
    answer = await common.ask_json(ctx, instructions, schema)
    return [str(answer[k]) for k in keys]


def _one_line(text: str) -> str:
    return " ".join(text.split())
