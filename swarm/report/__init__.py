"""The run report: one self-contained HTML file with the DAG, a Gantt chart, metrics and tasks."""

from __future__ import annotations

from swarm.report.render import ReportInput, collect, render_report, write_report

__all__ = ["ReportInput", "collect", "render_report", "write_report"]
