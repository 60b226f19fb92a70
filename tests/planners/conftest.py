"""Fixtures for the planner tests: the asyncio backend, and the in-process CLI runner."""

from __future__ import annotations

import pytest

from tests.cli.conftest import CliRunner, Result, cli

__all__ = ["CliRunner", "Result", "cli"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
