"""Measure this codebase's shape the way docs/architecture.md compares it with its anchors.

Module lines (median, p90), function lines (median, p90), the share of functions with a return
annotation, test lines per source line, and import cycles between modules (strongly connected
components of the module import graph). `python benchmarks/code_shape.py [ROOT]` prints a
Markdown table row; the anchors' figures in ../shared/conventions.md were measured the same way.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

import networkx as nx

PACKAGES = ("swarm", "planners", "workers", "migrations")


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def measure(root: Path) -> dict[str, float]:
    """The shape figures of the source packages under ``root`` and of ``root/tests``."""
    module_lines: list[int] = []
    function_lines: list[int] = []
    annotated = functions = 0
    graph: nx.DiGraph[str] = nx.DiGraph()
    sources = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    names = {_module_name(root, p) for p in sources}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        module_lines.append(len(text.splitlines()))
        tree = ast.parse(text)
        module = _module_name(root, path)
        graph.add_node(module)
        for target in _imports(tree, module, path.name == "__init__.py") & names:
            if target != module and not module.startswith(f"{target}."):
                graph.add_edge(module, target)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions += 1
                annotated += node.returns is not None
                function_lines.append((node.end_lineno or node.lineno) - node.lineno + 1)
    test_lines = sum(
        len(p.read_text(encoding="utf-8").splitlines()) for p in (root / "tests").rglob("*.py")
    )
    cycles = sum(1 for c in nx.strongly_connected_components(graph) if len(c) > 1)
    return {
        "modules": len(module_lines),
        "module_median": statistics.median(module_lines),
        "module_p90": _quantile(module_lines, 0.9),
        "function_median": statistics.median(function_lines),
        "function_p90": _quantile(function_lines, 0.9),
        "return_annotated": annotated / functions,
        "test_ratio": test_lines / sum(module_lines),
        "import_cycles": cycles,
    }


if __name__ == "__main__":
    figures = measure(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
    print(
        f"| swarm | {figures['module_median']:.0f} ({figures['module_p90']}) "
        f"| {figures['function_median']:.0f} ({figures['function_p90']}) "
        f"| {figures['return_annotated']:.1%} | {figures['test_ratio']:.2f} "
        f"| {figures['import_cycles']} | {figures['modules']} modules |"
    )
