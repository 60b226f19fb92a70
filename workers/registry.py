"""The registry of task kinds: built-in kinds plus any a package declares under the
``swarm.workers`` entry-point group, so a third party adds a kind without touching swarm.

Built-in kinds are imported the first time a plan uses them: the aggregators pull in openpyxl,
python-docx and python-pptx, which a plan of model calls should not pay for at start-up.
`swarm validate` imports no worker of a built-in kind at all: it runs the kind's light rules
(:func:`rules_for`, ``workers/rules/``), to which the worker's ``check`` delegates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from swarm.errors import ConfigError

if TYPE_CHECKING:  # the protocol only: `swarm validate` need not load the run-time context
    from swarm.errors import Problem
    from swarm.task_fields import TaskFields
    from workers.base import Worker

BUILTIN: dict[str, str] = {
    "llm": "workers.llm:LlmWorker",
    "agent": "workers.agent:AgentWorker",
    "code": "workers.code:CodeWorker",
    "map": "workers.fanout:MapWorker",
    "subplan": "workers.subplan:SubplanWorker",
    "orchestrator": "workers.orchestrator:OrchestratorWorker",
    "document": "workers.aggregate.document:DocumentWorker",
    "sheet": "workers.aggregate.sheet:SheetWorker",
    "slides": "workers.aggregate.slides:SlidesWorker",
    "site": "workers.aggregate.site:SiteWorker",
    "image": "workers.image:ImageWorker",
}
"""Kind name → ``module:class`` of its worker."""
RULES: dict[str, str] = {kind: f"workers.rules.{kind}:check" for kind in BUILTIN}
"""Kind name → ``module:function`` of a built-in kind's static checks (``workers/rules/``),
which its worker's ``check`` delegates to."""


class Kinds(Mapping[str, "Worker"]):
    """The known kinds by name; each kind's worker is created on first use."""

    def __init__(self, sources: dict[str, Callable[[], type[Worker]]]) -> None:
        self._sources = sources
        self._workers: dict[str, Worker] = {}

    def __getitem__(self, name: str) -> Worker:
        worker = self._workers.get(name)
        if worker is None:
            worker = self._workers[name] = self._sources[name]()()
        return worker

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


def _builtin(path: str) -> Callable[[], type[Worker]]:
    def load() -> type[Worker]:
        module, _, name = path.partition(":")
        cls: type[Worker] = getattr(import_module(module), name)
        return cls

    return load


def _plugin(ep: EntryPoint) -> type[Worker]:
    try:
        cls: type[Worker] = ep.load()
    except Exception as exc:  # a broken plug-in must name itself, not crash swarm
        raise ConfigError(
            f"worker plug-in {ep.name!r} ({ep.value}) failed to load: {exc}",
            hint="fix or uninstall the package that declares it",
        ) from exc
    return cls


@cache
def registry() -> Kinds:
    sources = {name: _builtin(path) for name, path in BUILTIN.items()}
    for ep in entry_points(group="swarm.workers"):
        if ep.name not in sources:
            cls = _plugin(ep)  # loaded now: a broken plug-in is reported up front
            sources[ep.name] = lambda cls=cls: cls  # type: ignore[misc]
    return Kinds(sources)


def known_kinds() -> set[str]:
    return set(registry())


def get_worker(kind: str) -> Worker:
    try:
        return registry()[kind]
    except KeyError:
        raise ConfigError(f"unknown task kind {kind!r}") from None


def rules_for(kind: str) -> Callable[[TaskFields], list[Problem]] | None:
    """The static checks of a built-in kind, importing only its light rules module (no worker,
    no pydantic: what `swarm validate` runs); None for a plug-in kind, whose worker's ``check``
    reads the plan model's task."""
    path = RULES.get(kind)
    if path is None:
        return None
    module, _, name = path.partition(":")
    rules: Callable[[TaskFields], list[Problem]] = getattr(import_module(module), name)
    return rules
