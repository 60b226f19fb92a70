"""Native tool calls on OpenAI-compatible endpoints: the ``tools`` a request offers, and the
streamed ``delta.tool_calls`` fragments folded into whole calls.

A streamed call arrives in pieces keyed by its ``index``: the first carries its ``id`` and
function ``name``, later ones more of its ``arguments`` text. Calls are returned in index
order, which is the order the model made them (a parallel turn keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm.errors import ProviderError
from swarm.providers.base import ToolCall

MAX_CALLS = 64
MAX_ARGUMENT_CHARS = 1_000_000


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class ToolCallStream:
    """The tool calls of one streamed answer, as their fragments arrive."""

    parts: dict[int, _Partial] = field(default_factory=dict)

    def take(self, fragments: Any) -> None:
        """Fold one delta's ``tool_calls`` list in; malformed fragments are a retryable
        failure of the call (the stream is not what the API defines)."""
        if not isinstance(fragments, list):
            raise ProviderError("tool_calls in a stream chunk is not a list", retryable=True)
        for frag in fragments:
            if not isinstance(frag, dict):
                continue
            index = frag.get("index", len(self.parts))
            if not isinstance(index, int) or index < 0 or index >= MAX_CALLS:
                raise ProviderError(f"tool call index {index!r} out of range", retryable=True)
            part = self.parts.setdefault(index, _Partial())
            part.id = part.id or str(frag.get("id") or "")
            function = frag.get("function") or {}
            if isinstance(function, dict):
                part.name += str(function.get("name") or "")
                more = str(function.get("arguments") or "")
                part.size += len(more)
                if part.size > MAX_ARGUMENT_CHARS:
                    raise ProviderError("a tool call's arguments are too long", retryable=True)
                part.arguments.append(more)

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(p.id or f"call_{i}", p.name, "".join(p.arguments) or "{}")
            for i, p in sorted(self.parts.items())
            if p.name
        )


def tools_param(tools: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The request body's ``tools`` fields: the functions, chosen by the model, in parallel."""
    if not tools:
        return {}
    return {"tools": list(tools), "tool_choice": "auto", "parallel_tool_calls": True}
