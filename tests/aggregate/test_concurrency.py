"""Aggregators render off the event loop: while a large workbook and a deck are built, the loop
keeps running other tasks (a heartbeat never stalls for the length of a render), and two
aggregators of one run make progress at the same time instead of one after the other."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio

from tests.aggregate.conftest import context, unlabelled
from workers.registry import get_worker

ROWS = [{"day": f"2026-01-{1 + n % 28:02d}", "region": f"r{n % 7}", "runs": n, "rate": n / 7}
        for n in range(6000)]  # fmt: skip
COLUMNS = [{"name": "day", "type": "date"}, {"name": "region", "type": "string"},
           {"name": "runs", "type": "integer"}, {"name": "rate", "type": "number"}]  # fmt: skip


def test_rendering_does_not_hold_up_the_loop(tmp_path: Path) -> None:
    inputs = {"rows": json.dumps(ROWS)}
    sheet = context(tmp_path / "a", "sheet", inputs, {"columns": COLUMNS, "source": "rows"},
                    provider=unlabelled())  # fmt: skip
    deck = context(tmp_path / "b", "slides", {"t": json.dumps(ROWS[:12]), "n": "- a\n- b"},
                   provider=unlabelled())  # fmt: skip
    gaps: list[float] = []
    spans: dict[str, tuple[float, float]] = {}

    async def timed(name: str, ctx: object) -> None:
        started = time.perf_counter()
        await get_worker(name).run(ctx)  # type: ignore[arg-type]
        spans[name] = (started, time.perf_counter())

    async def heartbeat(done: anyio.Event) -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def main() -> None:
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat, done)
            async with anyio.create_task_group() as work:
                work.start_soon(timed, "sheet", sheet)
                work.start_soon(timed, "slides", deck)
            done.set()

    get_worker("sheet"), get_worker("slides")  # imported first: a module import is not a render
    anyio.run(main)
    sheet_time = spans["sheet"][1] - spans["sheet"][0]
    assert sheet_time > 0.3, "the workbook should take a while to build"
    assert max(gaps) < sheet_time / 3, (max(gaps), sheet_time)  # the loop kept turning
    (s0, s1), (d0, d1) = spans["sheet"], spans["slides"]
    assert d0 < s1 and s0 < d1  # both were under way at once
    assert (tmp_path / "a/agg/agg.xlsx").stat().st_size > 50_000
