"""The Python API in a few lines: run a plan, follow its events live, print the summary.

python examples/api_quickstart.py          # offline, with the simulated provider
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from swarm import Swarm

PLAN = Path(__file__).with_name("minimal.json")


async def main() -> None:
    async with Swarm(provider="sim") as sw, sw.start(PLAN) as run:
        async for event in run.events():
            print(f"{event['type']:<16} {event['task_id'] or ''}")
        print(json.dumps(await run.wait()))


if __name__ == "__main__":
    anyio.run(main)
