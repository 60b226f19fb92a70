"""MCP tools as an agent sees them: a server's tool as a :class:`ToolDef` (description and
schema capped and checked), and a tool's result turned into
untrusted text as MCP defines its content (text, structured content, images and audio as a note
of their type and size, embedded resources by their text), secrets scrubbed.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import mcp_types

from swarm.mcp.config import Redactor
from swarm.mcp.names import ToolDef

MAX_DESCRIPTION_CHARS = 1000
MAX_SCHEMA_CHARS = 8000
"""A tool whose argument schema is larger is shown with a plain object schema (its server still
checks the arguments)."""


def tool_def(server: str, tool: mcp_types.Tool) -> ToolDef:
    """A server's tool as the agent sees it; its description and schema are untrusted text, so
    both are capped and a schema that is not valid JSON Schema is replaced."""
    schema: dict[str, Any] = {"type": "object"}
    raw = tool.input_schema
    if isinstance(raw, dict) and len(json.dumps(raw, default=str)) <= MAX_SCHEMA_CHARS:
        try:
            jsonschema.Draft202012Validator.check_schema(raw)
            schema = raw
        except jsonschema.SchemaError:
            pass
    description = (tool.description or "").strip()[:MAX_DESCRIPTION_CHARS]
    return ToolDef(f"{server}.{tool.name}", server, tool.name, description, schema)


def render_result(result: mcp_types.CallToolResult, redact: Redactor) -> tuple[str, bool]:
    """A tool result as text for the model, secrets scrubbed, and whether it succeeded."""
    parts = [_content(block) for block in result.content]
    if result.structured_content is not None and not any(parts):
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(p for p in parts if p) or "(the tool returned no content)"
    return redact(text), not result.is_error


def _content(block: Any) -> str:
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
        kind = "image" if isinstance(block, mcp_types.ImageContent) else "audio"
        size = len(block.data) * 3 // 4
        return f"[{kind} content: {block.mime_type}, about {size} bytes, not shown]"
    if isinstance(block, mcp_types.EmbeddedResource):
        res = block.resource
        if isinstance(res, mcp_types.TextResourceContents):
            return f"[resource {res.uri}]\n{res.text}"
        return f"[binary resource {res.uri}: {res.mime_type or 'unknown type'}, not shown]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[resource link {block.uri}: {block.description or block.name}]"
    return f"[{getattr(block, 'type', 'unknown')} content, not shown]"
