"""The provider protocol: one model call in, text and usage out.

Everything that talks to a model goes through a :class:`Provider`, so the scheduler, the
workers and the tests never touch a network client. Providers raise
:class:`swarm.errors.ProviderError` (with ``retryable`` set) and nothing else on failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One call. ``call_key`` identifies it stably across resumes (task, attempt, step)."""

    model: str
    prompt: str
    system_prompt: str | None = None
    max_tokens: int = 2048
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    reasoning_effort: str | None = None
    images: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    """If set, the caller wants JSON conforming to this schema (it validates the answer)."""
    tools: tuple[dict[str, Any], ...] = ()
    """Native tools (OpenAI-style ``{"type": "function", "function": {...}}``): a provider
    that has native tool calls offers them and answers with :attr:`ModelResponse.tool_calls`;
    one that has not ignores them, and the caller reads a JSON action from the text."""
    call_key: str = ""
    """``run_id/task_id/attempt/step``: unique per call, stable for logs and ledgers."""
    journal: CallJournal | None = field(default=None, compare=False, repr=False)
    """Where a provider with remote predictions records them before awaiting their output."""


@dataclass(frozen=True, slots=True)
class ModelResponse:
    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    ref: str | None = None
    """The provider's id for the call (a Replicate prediction id)."""
    meta: dict[str, Any] = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()
    """The native tool calls the model made, in the order it made them."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One native tool call: the function's name and its arguments as the model wrote them
    (JSON text, not yet checked)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class CallIntent:
    """A creation about to be sent, recorded before it is: what the prediction it makes can be
    recognised by at the provider if the process dies before the provider's answer is
    journaled (see :meth:`CallJournal.intended`)."""

    fingerprint: str
    """A digest of the model and the input sent (the provider's own, see ``replicate_io``)."""
    at: float
    """Wall-clock time (epoch seconds) just before the creation was sent."""


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """A call that keeps failing transiently and is being retried: what fails, where, and for
    how long it will keep trying (the run's ``provider.retrying`` events carry these fields)."""

    where: str
    """The server being called (its base URL)."""
    error: str
    tries: int
    """Tries so far, all failed."""
    failing_s: float
    """Seconds since the first failure of this streak."""
    retry_in_s: float
    """Seconds until the next try."""
    gives_up_in_s: float
    """Seconds until the call stops retrying and its task counts a failed attempt (about)."""

    def describe(self) -> str:
        return (
            f"{self.where}: {self.error}; failing for {self.failing_s:.0f}s ({self.tries} "
            f"tries), next try in {self.retry_in_s:.1f}s, gives up in {self.gives_up_in_s:.0f}s"
        )


@dataclass(frozen=True, slots=True)
class RateWait:
    """How long one call's creation waited on rate limits, all its tries together: the rate
    governor's pacing and shared cooldowns, and the backoff after its own 429 answers. One per
    call, told once its creation loop ends, so a 429 storm is a handful of records, not one per
    answer (the run's ``provider.rate_limited`` and ``governor.waiting`` events carry these)."""

    tries: int
    """Creation tries made (the last one succeeded unless the call gave up)."""
    rate_limited: int
    """How many of them were answered 429."""
    waited_s: float
    """Seconds spent waiting: in the governor and backing off after the 429s."""
    status: int | None = None
    """The status of the last rate-limited answer (429), if there was one."""
    retry_after_s: float | None = None
    """The server's last hint of when to come back (``Retry-After`` and the like), if any."""

    @property
    def event_type(self) -> str:
        """``provider.rate_limited`` if the server refused a try, else ``governor.waiting``
        (the run's own pacing held the call back)."""
        return "provider.rate_limited" if self.rate_limited else "governor.waiting"


class CallJournal(Protocol):
    """Write-ahead record of remote predictions, so a resumed run re-attaches instead of paying
    twice. Implemented by the runtime over the store; tests use an in-memory fake."""

    async def intended(self, request: ModelRequest, intent: CallIntent) -> None:
        """Durably record that ``request`` is about to create a prediction; returns once the
        record is committed (before the creation is sent)."""
        ...

    def unresolved(self, request: ModelRequest) -> CallIntent | None:
        """The intent an earlier, interrupted attempt recorded for the same task and step with
        no prediction journaled after it: its creation may or may not have reached the
        provider, and the provider is asked which."""
        ...

    async def created(self, request: ModelRequest, ref: str) -> None:
        """Durably record that ``request`` created the remote prediction ``ref``; returns once
        the record is committed (before the provider awaits the prediction's output)."""
        ...

    def previous(self, request: ModelRequest) -> str | None:
        """The prediction an earlier, interrupted attempt created for the same task and step,
        if any: the provider re-attaches to it (if it is still running or has succeeded)."""
        ...

    async def finished(self, request: ModelRequest, ref: str, status: str) -> None:
        """Record how the prediction ended (``succeeded``, ``failed``, ``canceled``)."""
        ...

    def retrying(self, request: ModelRequest, notice: RetryNotice) -> None:
        """Note that ``request`` keeps failing and is being retried (an event for the log and
        the live display; it must not block)."""
        ...

    def waited(self, request: ModelRequest, wait: RateWait) -> None:
        """Note how long ``request``'s creation waited on rate limits, once it is over (only
        when it waited long enough to matter; it must not block)."""
        ...


class Provider(Protocol):
    """A source of model completions."""

    name: str
    simulated: bool
    """True for providers whose answers are not a real model's: the CLI labels their output."""

    async def complete(self, request: ModelRequest) -> ModelResponse: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A cheap, conservative token estimate (about four characters per token)."""
    return max(1, (len(text) + 3) // 4)
