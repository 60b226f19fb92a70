"""The Python API in a few lines: start a run, follow it, cancel it, resume it, read its
results and files (the README's "Python API" section shows the block between the markers).

python examples/api_quickstart.py          # offline, with the simulated provider
"""

from __future__ import annotations

import json

import anyio

from swarm import Swarm

PLAN = {
    "goal": "A short brief on honey bees",
    "tasks": [
        {"id": "notes", "kind": "llm", "prompt": "Five facts about honey bees."},
        {"id": "brief", "kind": "document", "deps": ["notes"],
         "config": {"title": "Honey bees", "filename": "bees", "formats": ["md"]}},
    ],
}  # fmt: skip


async def main() -> None:
    # --- README ---
    async with Swarm("swarm.db", provider="sim") as sw:
        async with sw.start(PLAN, concurrency=4) as run:  # a run in the background
            async for event in run.events():  # typed events, live
                print(event.type, event.task_id or "")
                if event.type == "task.started":
                    run.cancel()  # stops promptly; the run stays resumable
            stopped = await run.wait()  # a typed RunSummary
        summary = await sw.resume(run.run_id)  # finished tasks are not run again
        for task in await sw.results(run.run_id):  # TaskResult: status, result, error, cost
            print(task.task_id, task.status, (task.result or "")[:40])
        for artifact in await sw.artifacts(run.run_id):  # the files the tasks wrote
            print(artifact.path, artifact.size)
    # --- README ---
    print(json.dumps({"status": stopped.status, "resumed": summary.status}))


if __name__ == "__main__":
    anyio.run(main)
