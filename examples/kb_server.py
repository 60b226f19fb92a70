"""A small knowledge-base MCP server for ``examples/mcp-research.json``, written with the MCP
SDK's server API and spoken to over stdio; it also serves ``examples/pages/`` on
``127.0.0.1:PORT`` so the example's fetch tool has a local page to read. Offline throughout.

Run by the plan (``"command": "python", "args": ["examples/kb_server.py", "8765"]``), or by
hand to try it: ``python examples/kb_server.py 8765`` then speak MCP on its stdin.
"""

from __future__ import annotations

import functools
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mcp.server.mcpserver import MCPServer

ENTRIES = {
    "cop": "Heat pumps deliver 2.5 to 4 units of heat per unit of electricity (COP), "
    "falling as the outdoor temperature drops.",
    "cost": "An air-source heat pump for a detached house costs 8,000 to 15,000 EUR "
    "installed; grants cover 30 to 70 percent in several European countries.",
    "cold": "Modern units keep a COP above 2 down to -15 C; Nordic countries have the "
    "highest adoption per household despite their climate.",
    "grid": "Electrified heating raises winter peak demand; smart tariffs and thermal storage "
    "shift load away from the peak.",
}
server = MCPServer("example-kb", instructions="A tiny knowledge base about heat pumps.")


@server.tool()
def search(query: str) -> str:
    """Search the heat-pump knowledge base; returns matching entries with their ids."""
    words = {w.strip(".,:;").lower() for w in query.split()}
    hits = [
        f"[{key}] {text}"
        for key, text in ENTRIES.items()
        if key in words or words & {w.strip(".,;()").lower() for w in text.split()}
    ]
    return "\n".join(hits[:3]) or "no entries match; try: " + ", ".join(ENTRIES)


@server.tool()
def entry(entry_id: str) -> str:
    """One knowledge-base entry by its id (cop, cost, cold, grid)."""
    return ENTRIES.get(entry_id.strip().lower(), f"no entry {entry_id!r}")


def serve_pages(port: int) -> None:
    """The example's local web page, for the fetch tool (127.0.0.1 only)."""
    pages = str(Path(__file__).with_name("pages"))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=pages)
    handler.log_message = lambda *args: None  # type: ignore[attr-defined,assignment]
    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:
        return  # a page server from another run is up already; fetch reads that one
    threading.Thread(target=httpd.serve_forever, daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        serve_pages(int(sys.argv[1]))
    server.run("stdio")
