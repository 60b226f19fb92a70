"""The registry of task kinds: built-in kinds plus any a package declares under the
``swarm.workers`` entry-point group, so a third party adds a kind without touching swarm."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from swarm.errors import ConfigError
from workers.agent import AgentWorker
from workers.aggregate.document import DocumentWorker
from workers.aggregate.sheet import SheetWorker
from workers.aggregate.site import SiteWorker
from workers.aggregate.slides import SlidesWorker
from workers.base import Worker
from workers.code import CodeWorker
from workers.fanout import MapWorker
from workers.llm import LlmWorker
from workers.subplan import SubplanWorker

BUILTIN: dict[str, type[Worker]] = {
    "llm": LlmWorker,
    "agent": AgentWorker,
    "code": CodeWorker,
    "map": MapWorker,
    "subplan": SubplanWorker,
    "document": DocumentWorker,
    "sheet": SheetWorker,
    "slides": SlidesWorker,
    "site": SiteWorker,
}


@cache
def registry() -> dict[str, Worker]:
    kinds: dict[str, Worker] = {name: cls() for name, cls in BUILTIN.items()}
    for ep in entry_points(group="swarm.workers"):
        if ep.name in kinds:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must name itself, not crash swarm
            raise ConfigError(
                f"worker plug-in {ep.name!r} ({ep.value}) failed to load: {exc}",
                hint="fix or uninstall the package that declares it",
            ) from exc
        kinds[ep.name] = cls()
    return kinds


def known_kinds() -> set[str]:
    return set(registry())


def get_worker(kind: str) -> Worker:
    try:
        return registry()[kind]
    except KeyError:
        raise ConfigError(f"unknown task kind {kind!r}") from None
