"""The sim provider: a deterministic, offline stand-in for a model, for demos, tests, benchmarks.

Its answers depend only on the model name and the prompt, so a resumed run produces the same
results as an uninterrupted one. Latency and faults are drawn from a seed derived from the
call's key (task, attempt, step), so they are reproducible too. Configured by environment:

- ``SWARM_SIM_LATENCY``: ``0`` (default), ``fixed:SECONDS`` or ``lognormal:MEDIAN,SIGMA``.
- ``SWARM_SIM_FAULTS``: comma-separated rates, e.g. ``error=0.05,timeout=0.01,malformed=0.02``.
  ``error`` raises a retryable 500, ``timeout`` hangs until the task's timeout cancels the call,
  ``malformed`` answers invalid JSON (or empty text), ``ratelimit`` raises a 429.
- ``SWARM_SIM_LEDGER``: a file to which every call appends one JSON line (the crash tests
  count executions with it).

An ``agent`` task plays the sim agent's research routine, 9 steps long (without MCP tools);
``SimProvider(agent_steps=...)``, a function of the task id, makes it longer, task by task
(a benchmark's work model: Kimi's sub-agents take up to 100 steps).

A planning prompt (from ``planners/``) gets a simulated plan in the planner's line protocol
(:mod:`swarm.providers.sim_planner`); ``stream()`` sends any answer in chunks, its latency
spread over them. Everything it answers is labelled simulated.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from swarm.errors import ConfigError, ProviderError, RateLimited
from swarm.providers import sim_agent, sim_orchestrator, sim_planner
from swarm.providers.base import ModelRequest, ModelResponse, ToolCall, estimate_tokens

if TYPE_CHECKING:
    from swarm.providers.sim_images import SimImages

SIM_LABEL = "[simulated]"
STREAM_CHUNK_CHARS = 64
FAULT_KINDS = ("error", "timeout", "malformed", "ratelimit")
_WORDS = [
    "analysis",
    "shows",
    "demand",
    "growing",
    "steadily",
    "across",
    "regions",
    "while",
    "costs",
    "fall",
    "as",
    "suppliers",
    "consolidate",
    "and",
    "new",
    "entrants",
    "focus",
    "on",
    "niche",
    "segments",
    "with",
    "strong",
    "retention",
    "and",
    "pricing",
    "power",
]


@dataclass(frozen=True, slots=True)
class Latency:
    """How long a simulated call takes: nothing, a fixed time, or a lognormal draw."""

    mode: str = "zero"
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Latency:
        text = text.strip()
        try:
            if text in ("", "0"):
                return cls()
            mode, _, rest = text.partition(":")
            if mode == "fixed":
                return cls("fixed", float(rest))
            if mode == "lognormal":
                median, sigma = (float(x) for x in rest.split(","))
                return cls("lognormal", median, sigma)
        except ValueError:
            pass
        raise ConfigError(
            f"SWARM_SIM_LATENCY={text!r} is not understood",
            hint="use 0, fixed:SECONDS or lognormal:MEDIAN,SIGMA (e.g. lognormal:0.05,0.5)",
        )

    def draw(self, rng: random.Random) -> float:
        if self.mode == "fixed":
            return self.a
        if self.mode == "lognormal":
            return self.a * math.exp(rng.gauss(0.0, self.b))
        return 0.0


def parse_faults(text: str) -> dict[str, float]:
    """``error=0.05,timeout=0.01`` → rates; unknown kinds or rates outside [0, 1] are refused."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if name not in FAULT_KINDS or not 0.0 <= rate <= 1.0:
            raise ConfigError(
                f"SWARM_SIM_FAULTS: cannot use {part!r}",
                hint=f"write KIND=RATE pairs with KIND in {', '.join(FAULT_KINDS)} and 0<=RATE<=1",
            )
        rates[name] = rate
    return rates


def _digest(*parts: str) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.digest()


def fake_json(schema: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """A value conforming to a (common subset of) JSON Schema, drawn deterministically."""
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: fake_json(sub, rng, depth + 1) for name, sub in props.items()}
    if kind == "array":
        low = int(schema.get("minItems", 2))
        high = max(low, int(schema.get("maxItems", low + 2)))
        count = rng.randint(low, min(high, low + 3)) if depth < 4 else low
        return [fake_json(schema.get("items", {}), rng, depth + 1) for _ in range(count)]
    if kind == "integer":
        low = int(schema.get("minimum", 0))
        return rng.randint(low, max(low, int(schema.get("maximum", low + 1000))))
    if kind == "number":
        floor = float(schema.get("minimum", 0.0))
        return round(rng.uniform(floor, float(schema.get("maximum", floor + 1000.0))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    words = rng.sample(_WORDS, k=3)
    return " ".join(words)


@dataclass
class SimProvider:
    """Deterministic offline model; see the module docstring for its knobs."""

    latency: Latency = field(default_factory=Latency)
    faults: dict[str, float] = field(default_factory=dict)
    ledger: str | None = None
    name: str = "sim"
    simulated: bool = True
    calls: int = 0
    agent_steps: Callable[[str], int] | None = None
    """How many steps the ``agent`` task with this id takes (its routine is lengthened with
    notes written and read back, two steps each); None: the 9-step routine."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SimProvider:
        env = dict(os.environ) if env is None else env
        return cls(
            latency=Latency.parse(env.get("SWARM_SIM_LATENCY", "0")),
            faults=parse_faults(env.get("SWARM_SIM_FAULTS", "")),
            ledger=env.get("SWARM_SIM_LEDGER") or None,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await self._complete(request, pace=True)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        """The answer of :meth:`complete` in chunks, its latency spread over them, as a model
        that streams would send it (the streaming planner reads each task as it arrives)."""
        response = await self._complete(request, pace=False)
        delay = 0.0
        if self.latency.mode != "zero":
            roll = random.Random(_digest("call", request.call_key, request.prompt))
            delay = self.latency.draw(roll)
        text, size = response.text, STREAM_CHUNK_CHARS
        chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        for chunk in chunks:
            await anyio.sleep(delay / len(chunks))
            yield chunk

    async def _complete(self, request: ModelRequest, *, pace: bool) -> ModelResponse:
        self.calls += 1
        started = time.perf_counter()
        if self.ledger:
            self._append_ledger(request)
        delay, fault = 0.0, None
        if self.faults or self.latency.mode != "zero":
            roll = random.Random(_digest("call", request.call_key, request.prompt))
            delay = self.latency.draw(roll)
            fault = self._fault(roll)
        if delay > 0 and pace:
            await anyio.sleep(delay)
        else:
            await anyio.lowlevel.checkpoint()
        if fault == "timeout":
            await anyio.sleep_forever()
        if fault == "error":
            raise ProviderError("simulated server error (HTTP 500)", retryable=True, status=500)
        if fault == "ratelimit":
            raise RateLimited("simulated 429: request was throttled", retry_after_s=0.05)
        text = self._answer(request, malformed=fault == "malformed")
        calls: tuple[ToolCall, ...] = ()
        schema = request.json_schema
        if request.tools and schema and sim_agent.is_agent_schema(schema) and fault != "malformed":
            roll = random.Random(_digest("answer", request.model, request.prompt))
            extra = self._extra(request)
            calls = sim_agent.calls(request.prompt, schema, roll, extra)  # text: the action
        return ModelResponse(
            tool_calls=calls,
            text=text,
            tokens_in=estimate_tokens(request.prompt)
            + estimate_tokens(request.system_prompt or ""),
            tokens_out=estimate_tokens(text),
            latency_s=time.perf_counter() - started,
            ref=f"sim-{_digest(request.call_key).hex()[:16]}",
            meta={"simulated": True},
        )

    async def aclose(self) -> None:
        return None

    def images(self) -> SimImages:
        """Placeholder images, labelled simulated (:mod:`swarm.providers.sim_images`)."""
        from swarm.providers.sim_images import SimImages

        return SimImages()

    def _fault(self, roll: random.Random) -> str | None:
        x = roll.random()
        for kind in FAULT_KINDS:
            rate = self.faults.get(kind, 0.0)
            if x < rate:
                return kind
            x -= rate
        return None

    def _extra(self, request: ModelRequest) -> int:
        """The extra actions of this agent task's routine (see :attr:`agent_steps`)."""
        if self.agent_steps is None:
            return 0
        parts = request.call_key.split("/")
        task = parts[1] if len(parts) > 2 else request.call_key
        return max(0, (self.agent_steps(task) - sim_agent.ROUTINE_STEPS) // 2)

    def _answer(self, request: ModelRequest, *, malformed: bool) -> str:
        if sim_planner.is_planning_request(request):
            return sim_planner.answer(request, malformed=malformed)
        digest = _digest("answer", request.model, request.prompt)
        if request.json_schema is not None:
            if malformed:
                return '{"truncated": ['
            if sim_orchestrator.is_turn_schema(request.json_schema):
                return sim_orchestrator.turn(request.prompt, request.json_schema)
            if sim_agent.is_agent_schema(request.json_schema):
                rng = random.Random(digest)
                return sim_agent.act(request.prompt, request.json_schema, rng, self._extra(request))
            value = fake_json(request.json_schema, random.Random(digest))
            return json.dumps(value)  # in the schema's order, as a model answers
        if malformed:
            return ""
        prompt = request.prompt.lstrip()
        first = prompt[: prompt.find("\n")] if "\n" in prompt else prompt
        words = " ".join(_WORDS[b % len(_WORDS)] for b in digest[:12])
        return f"{SIM_LABEL} {first[:120] or '(empty)'} — {words}. (sim digest {digest.hex()[:8]})"

    def _append_ledger(self, request: ModelRequest) -> None:
        assert self.ledger is not None
        line = json.dumps({"key": request.call_key, "pid": os.getpid()}) + "\n"
        fd = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
