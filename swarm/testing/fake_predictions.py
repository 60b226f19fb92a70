"""The predictions of the fake Replicate server: how each one unfolds over time, and its JSON.

A prediction's whole life is fixed when it is created (a :class:`Script`), and its state at any
moment is computed from the clock, so a GET, a stream and a cancel all see one consistent story
without a thread per prediction. Markers in the prompt pick a script, so end-to-end tests can
ask for a fault from a plan file: ``[fail]``, ``[hang]``, ``[slow]``, ``[cancel]``, ``[abort]``,
``[drop]``, ``[url]``. :class:`RandomFaults` instead draws faults at given rates, one draw per
prediction, for runs at scale.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

K26 = "moonshotai/kimi-k2.6"
K26_EFFORTS = ("none", "low", "medium", "high")
URL_CHUNK = "https://replicate.delivery/fake/figure.png"
"""A chunk the client turns into a ``FileOutput``."""


@dataclass
class Script:
    """How one prediction behaves."""

    tokens: list[str]
    token_delay_s: float = 0.002
    start_delay_s: float = 0.0
    outcome: str = "succeeded"
    """``succeeded``, ``failed``, ``canceled`` (by someone else), ``aborted`` or ``hang``."""
    stop_after: int = 0
    """For any other outcome than success: how many tokens come out first."""
    error: str = "CUDA error: an illegal memory access was encountered"
    drop_stream_after: int | None = None
    """Close the first stream connection abruptly after this many events."""


def answer_tokens(inputs: dict[str, Any]) -> list[str]:
    """The fake model's answer: a labelled echo of the prompt, one word a token."""
    prompt = str(inputs.get("prompt", "")).strip()
    first = prompt.splitlines()[0][:80] if prompt else "(empty)"
    words = f"[fake kimi] answer to: {first}".split(" ")
    return [words[0], *(" " + w for w in words[1:])]


def script_for(inputs: dict[str, Any], token_delay_s: float) -> Script:
    """The default script: the echo answer, changed by markers in the prompt."""
    prompt = str(inputs.get("prompt", ""))
    script = Script(answer_tokens(inputs), token_delay_s=token_delay_s)
    if "[slow]" in prompt:
        script.token_delay_s = 0.25
    if "[url]" in prompt:
        script.tokens.insert(1, URL_CHUNK)
    if "[drop]" in prompt:
        script.drop_stream_after = 2
    for marker, outcome, after in (
        ("[fail]", "failed", 2),
        ("[hang]", "hang", 1),
        ("[cancel]", "canceled", 2),
        ("[abort]", "aborted", 0),
    ):
        if marker in prompt:
            script.outcome, script.stop_after = outcome, after
    if script.outcome == "aborted":
        script.start_delay_s = 0.05  # Replicate aborts predictions that have not started
    return script


@dataclass
class RandomFaults:
    """Faults drawn once per prediction, each at its rate: the prediction ``failed`` (after two
    tokens), ``hang`` (one token, then nothing until it is cancelled), or ``malformed`` (it
    succeeds with an answer the caller must refuse: a JSON answer cut in half, any other answer
    empty). One seeded draw per creation, so a retry of the same prompt draws afresh."""

    failed: float = 0.0
    hang: float = 0.0
    malformed: float = 0.0
    seed: int = 0
    drawn: Counter[str] = field(default_factory=Counter)
    """How many predictions got each fault."""
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def apply(self, script: Script) -> Script:
        """``script``, or a copy of it with the fault this draw picked (not thread-safe: the
        fake calls it under its lock)."""
        roll = self._rng.random()
        for kind, rate in (("failed", self.failed), ("hang", self.hang)):
            if roll < rate:
                self.drawn[kind] += 1
                return replace(script, outcome=kind, stop_after=2 if kind == "failed" else 1)
            roll -= rate
        if roll < self.malformed:
            self.drawn["malformed"] += 1
            return replace(script, tokens=malformed(script.tokens))
        return script


def malformed(tokens: list[str]) -> list[str]:
    """A JSON answer truncated to its first half (invalid JSON); any other answer, empty."""
    text = "".join(tokens)
    try:
        json.loads(text)
    except ValueError:
        return []
    return [text[: len(text) // 2]]


def count_tokens(text: str) -> int:
    """The fake tokenizer: about four characters a token (what swarm reserves by)."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def validate_k26(inputs: Any) -> list[str]:
    """K2.6's input schema, as Replicate checks it (422 on any problem)."""
    if not isinstance(inputs, dict):
        return ["input: is required and must be an object"]
    problems = []
    if not isinstance(inputs.get("prompt"), str):
        problems.append("input.prompt: is required and must be a string")
    ranges = {
        "max_tokens": (1, 32_768),
        "temperature": (0, 2),
        "top_p": (0, 1),
        "presence_penalty": (-2, 2),
        "frequency_penalty": (-2, 2),
    }
    for name, (low, high) in ranges.items():
        value = inputs.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"input.{name}: must be a number")
        elif not low <= value <= high:
            problems.append(f"input.{name}: must be between {low} and {high}")
    effort = inputs.get("reasoning_effort")
    if effort is not None and effort not in K26_EFFORTS:
        problems.append(f"input.reasoning_effort: must be one of {', '.join(K26_EFFORTS)}")
    images = inputs.get("image_input")
    if images is not None and (
        not isinstance(images, list)
        or not all(isinstance(i, str) and i.startswith(("https:", "data:")) for i in images)
    ):
        problems.append("input.image_input: must be a list of URIs")
    return problems


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1e6):06d}Z"


@dataclass
class FakePrediction:
    """One prediction; its state at time ``t`` follows from its script and any cancel."""

    model: str
    inputs: dict[str, Any]
    script: Script
    created: float
    """The fake's clock at creation."""
    id: str = field(default_factory=lambda: secrets.token_hex(13)[:26])
    stream_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    created_epoch: float = field(default_factory=time.time)
    canceled_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    dropped: bool = False
    data_removed: bool = False
    forgotten: bool = False
    answered_epoch: float | None = None
    """Wall-clock time the creation's answer was sent (None until then)."""
    """The fake restarted after this prediction was created, and lost it."""

    @property
    def emitted(self) -> int:
        """Tokens this prediction produces before its outcome (without a cancel)."""
        cap = int(self.inputs.get("max_tokens") or 2048)
        produced = len(self.script.tokens)
        if self.script.outcome != "succeeded":
            produced = min(produced, self.script.stop_after)
        return min(produced, cap)

    @property
    def started(self) -> float:
        return self.created + self.script.start_delay_s

    def emit_time(self, index: int) -> float:
        return self.started + (index + 1) * self.script.token_delay_s

    @property
    def ends(self) -> float | None:
        """When the script reaches its outcome; None for a prediction that hangs."""
        if self.script.outcome == "hang":
            return None
        return self.started + self.emitted * self.script.token_delay_s

    def cancel(self, now: float) -> None:
        ends = self.ends
        if self.canceled_at is None and (ends is None or now < ends):
            self.canceled_at = now
            self.cancelled.set()

    def state(self, now: float) -> tuple[str, int]:
        """(status, tokens out so far) at ``now``."""
        if self.canceled_at is not None and now >= self.canceled_at:
            return "canceled", self._out_by(self.canceled_at)
        if now < self.started:
            return "starting", 0
        ends = self.ends
        if ends is None or now < ends:
            return "processing", self._out_by(now)
        return self.script.outcome, self.emitted

    def _out_by(self, t: float) -> int:
        delay = self.script.token_delay_s
        if t < self.started:
            return 0
        if delay <= 0:
            return self.emitted
        return min(self.emitted, int((t - self.started) / delay + 1e-9))

    def to_json(self, base_url: str, now: float) -> dict[str, Any]:
        status, out = self.state(now)
        terminal = status not in ("starting", "processing")
        end_t = self.canceled_at if status == "canceled" else self.ends
        output = None if status == "starting" or self.data_removed else self.script.tokens[:out]
        return {
            "id": self.id,
            "model": self.model,
            "version": "hidden",
            "input": None if self.data_removed else self.inputs,
            "logs": "",
            "output": output,
            "data_removed": self.data_removed,
            "error": self.script.error if status == "failed" else None,
            "status": status,
            "source": "api",
            "created_at": _iso(self.created_epoch),
            "started_at": _iso(self._epoch(self.started)) if status != "starting" else None,
            "completed_at": _iso(self._epoch(end_t)) if terminal and end_t else None,
            "metrics": self._metrics(status, out, end_t) if terminal else {},
            "urls": {
                "get": f"{base_url}/v1/predictions/{self.id}",
                "cancel": f"{base_url}/v1/predictions/{self.id}/cancel",
                "stream": f"{base_url}/v1/streams/{self.stream_key}",
                "web": f"https://replicate.com/p/{self.id}",
            },
        }

    def _epoch(self, t: float) -> float:
        return self.created_epoch + (t - self.created)

    def _metrics(self, status: str, out: int, end_t: float | None) -> dict[str, Any]:
        end = end_t if end_t is not None else self.started
        predict = max(0.0, end - self.started)
        metrics: dict[str, Any] = {
            "predict_time": round(predict, 6),
            "total_time": round(max(0.0, end - self.created), 6),
        }
        if status != "succeeded":
            return metrics
        prompt = str(self.inputs.get("prompt", ""))
        system = str(self.inputs.get("system_prompt") or "")
        metrics.update(
            input_token_count=count_tokens(prompt) + count_tokens(system),
            output_token_count=out,
            tokens_per_second=round(out / predict, 3) if predict > 0 else None,
            time_to_first_token=round(self.emit_time(0) - self.created, 6) if out else None,
        )
        return metrics
