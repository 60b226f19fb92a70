"""The ``document`` kind: upstream results (and, if the plan gives an outline, one model pass
that writes to it) combined into Markdown, a styled standalone HTML file and DOCX.

Config: ``title``, ``outline`` (section headings the model writes), ``formats`` (any of
``md``, ``html``, ``docx``; all by default), ``filename`` (the files' base name), ``titles``
(a heading for each dependency's section), ``intro`` (text under the title).
"""

from __future__ import annotations

from typing import Any, ClassVar

from swarm.errors import Problem
from swarm.plan import TaskSpec
from workers.aggregate import common, html_page, markup, sources
from workers.aggregate.docx_writer import render_docx
from workers.aggregate.files import write_artifact
from workers.base import TaskContext

FORMATS = ("md", "html", "docx")


class DocumentWorker:
    kind: ClassVar[str] = "document"
    description: ClassVar[str] = (
        "combine dependencies' results (optionally a model pass writing to an outline) into "
        "a report as Markdown, standalone HTML and DOCX"
    )
    default_steps: ClassVar[int] = 1 + common.REASKS

    def check(self, spec: TaskSpec) -> list[Problem]:
        where = f"task {spec.id!r}"
        problems = common.common_problems(spec, {"outline", "formats", "intro"})
        problems += common.choice_problems(spec, "formats", FORMATS)
        outline = spec.config.get("outline", [])
        if not isinstance(outline, list) or not all(
            isinstance(h, str) and h.strip() for h in outline
        ):
            problems.append(Problem(where, "config.outline", "must be a list of headings"))
        if not isinstance(spec.config.get("intro", ""), str):
            problems.append(Problem(where, "config.intro", "must be a string"))
        return problems

    async def run(self, ctx: TaskContext) -> str:
        spec = ctx.spec
        title = common.title_of(spec)
        text = await compose(ctx, title)
        stem = common.stem_of(spec)
        formats = spec.config.get("formats", list(FORMATS))
        paths = []
        if "md" in formats:
            paths.append(write_artifact(ctx, "document", f"{stem}.md", text.encode()))
        if "html" in formats:
            body = f"<main>\n{markup.to_html(text)}</main>"
            html = html_page.page(title, body)
            paths.append(write_artifact(ctx, "document", f"{stem}.html", html.encode()))
        if "docx" in formats:
            data = render_docx(title, markup.blocks(text))
            paths.append(write_artifact(ctx, "document", f"{stem}.docx", data))
        return common.summary(self.kind, paths, title=title)


async def compose(ctx: TaskContext, title: str) -> str:
    """The document as Markdown: title, intro, outline sections, upstream sections, sources."""
    spec = ctx.spec
    parts = [f"# {_one_line(title)}"]
    if intro := str(spec.config.get("intro", "")).strip():
        parts.append(intro)
    outline = [str(h) for h in spec.config.get("outline", [])]
    if outline:
        written = await write_outline(ctx, title, outline)
        for heading, body in zip(outline, written, strict=True):
            parts += [f"## {_one_line(heading)}", body.strip()]
    found = sources.sections(ctx, common.titles_of(spec))
    for section in found:
        parts += [f"## {_one_line(section.title)}", section.markdown]
    cited = sources.urls([ctx.inputs.get(s.id, "") for s in found])
    parts.append("## Sources")
    parts.append(
        "\n".join([f"- {s.title} (task `{s.id}`)" for s in found] + [f"- <{url}>" for url in cited])
    )
    return "\n\n".join(p for p in parts if p) + "\n"


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
