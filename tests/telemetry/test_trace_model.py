"""The span model alone: ids, names and GenAI attributes from a run's facts (no SDK, no I/O)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from swarm.plan import Plan
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.runtime import run as runs
from swarm.store.queries import Queries
from swarm.store.store import Store
from swarm.telemetry import live
from swarm.telemetry.facts import AttemptFact, Note, RunLog, StepFact
from swarm.telemetry.load import load_run_log
from swarm.telemetry.otlp import export_request
from swarm.telemetry.trace_model import (
    attempt_spans,
    build_trace,
    provider_name,
    run_spans,
    span_id,
    trace_id,
)
from tests.fakes import plan_data


def _log() -> RunLog:
    log = RunLog(run_id="r", created_at=100.0, provider="replicate", simulated=False)
    log.add_task("up", "llm", (), None)
    log.add_task("down", "agent", ("up",), "Write it")
    log.tasks["up"].attempt = 2
    log.tasks["down"].reasoning_effort = "high"
    log.status, log.started_at, log.finished_at, log.planned_at = "succeeded", 101.0, 110.0, 100.5
    steps = (
        StepFact(1, "model", "moonshotai/kimi-k2.6", 105.0, 1.0, 10, 20, 0.01, "pred-1",
                 {"finish_reason": "length"}),
        StepFact(2, "tool", "python", 106.0, 0.5, detail={"ok": False, "action": {"args": {}}}),
        StepFact(3, "model", "moonshotai/kimi-k2.6", 107.0, 1.0, detail={"error": "HTTP 500"}),
    )  # fmt: skip
    log.attempts[("down", 1)] = AttemptFact("down", 1, "timeout", 104.0, 108.0, steps=steps)
    return log


def test_ids_are_stable_distinct_and_never_zero() -> None:
    assert trace_id("r") == trace_id("r") != trace_id("s")
    assert 0 < trace_id("r") < 2**128 and 0 < span_id("r") < 2**64
    ids = {span_id("r"), span_id("r", "plan"), span_id("r", "a", 1), span_id("r", "a", 2)}
    ids |= {span_id("r", "a", 1, 1), span_id("r", "a", 11), span_id("r", "a1", 1)}
    assert len(ids) == 7


def test_an_attempt_and_its_calls_follow_the_genai_conventions() -> None:
    log = _log()
    agent, chat, tool, failed_chat = attempt_spans(log, log.attempts[("down", 1)])
    assert agent.name == "invoke_agent down" and agent.parent_id == span_id("r")
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.description"] == "Write it"
    assert agent.status == "ERROR" and agent.attributes["error.type"] == "timeout"
    assert [link.span_id for link in agent.links] == [span_id("r", "up", 2)]
    assert chat.name == "chat moonshotai/kimi-k2.6" and chat.kind == "CLIENT"
    assert chat.parent_id == agent.span_id
    assert chat.attributes["gen_ai.provider.name"] == "replicate"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 10
    assert chat.attributes["gen_ai.usage.output_tokens"] == 20
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert chat.attributes["gen_ai.request.reasoning_effort"] == "high"
    assert chat.attributes["gen_ai.response.id"] == "pred-1"
    assert chat.attributes["swarm.cost_usd"] == 0.01 and chat.end == 106.0
    assert tool.name == "execute_tool python" and tool.status == "ERROR"
    assert tool.attributes["gen_ai.tool.call.id"] == "down/1/2"
    assert "gen_ai.tool.call.arguments" not in tool.attributes  # content is opt-in
    assert failed_chat.status == "ERROR" and failed_chat.status_message == "HTTP 500"


def test_the_run_and_plan_spans() -> None:
    run, plan = run_spans(_log())
    assert run.name == "invoke_workflow swarm" and run.parent_id is None
    assert (run.start, run.end, run.status) == (100.0, 110.0, "OK")
    assert plan.name == "plan planner" and plan.parent_id == run.span_id
    assert (plan.start, plan.end) == (100.0, 100.5)


@pytest.mark.parametrize(
    ("provider", "base_url", "name"),
    [
        ("openai", "https://api.moonshot.ai/v1", "moonshot_ai"),
        ("openai", "http://127.0.0.1:8000/v1", "openai"),
        ("replicate", None, "replicate"),
        ("sim", None, "swarm.sim"),
    ],
)
def test_provider_names(provider: str, base_url: str | None, name: str) -> None:
    assert provider_name(provider, base_url) == name


def test_otlp_json_uses_hex_ids_and_string_integers() -> None:
    request = export_request(build_trace(_log()), "0.1.0")
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    run = spans[0]
    assert run["traceId"] == f"{trace_id('r'):032x}" and len(run["spanId"]) == 16
    assert "parentSpanId" not in run and spans[1]["parentSpanId"] == run["spanId"]
    assert run["startTimeUnixNano"] == "100000000000" and run["status"] == {"code": 1}
    ints = [a for a in run["attributes"] if a["key"] == "swarm.run.tasks"]
    assert ints == [{"key": "swarm.run.tasks", "value": {"intValue": "2"}}]


def test_endpoint_configuration() -> None:
    assert live.endpoint_from_env({}) is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"}
    assert live.endpoint_from_env(base) == "http://127.0.0.1:4318/v1/traces"
    traces = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:1/x", **base}
    assert live.endpoint_from_env(traces) == "http://h:1/x"
    assert live.endpoint_from_env({**base, "OTEL_SDK_DISABLED": "true"}) is None
    assert live.endpoint_from_env({**base, "OTEL_TRACES_EXPORTER": "none"}) is None
    assert live.endpoint_from_env({"SWARM_OTLP_ENDPOINT": "http://h:2/v1/traces"})
    assert not live.capture_content({}) and live.capture_content({live.CAPTURE_CONTENT_ENV: "true"})


class Stops:
    """A provider that says why the model stopped, as the OpenAI-compatible one does."""

    name = "scripted"
    simulated = True

    async def complete(self, request: ModelRequest) -> ModelResponse:
        meta = {"finish_reason": "stop", "create_tries": 3}  # two 429s, then created
        return ModelResponse("done", 3, 4, 0.0, meta=meta)

    async def aclose(self) -> None:
        return None


def test_a_recorded_finish_reason_reaches_the_chat_span(tmp_path: Path) -> None:
    async def main() -> RunLog:
        store = await Store.open(tmp_path / "s.db")
        try:
            plan = Plan.model_validate(plan_data([{"id": "a", "kind": "llm", "prompt": "p"}]))
            await runs.execute(store, plan, Stops(), runs.RunOptions(), run_id="fr")
            return await load_run_log(Queries(store), "fr")
        finally:
            await store.close()

    chat = next(s for s in build_trace(anyio.run(main)) if s.name.startswith("chat "))
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert chat.attributes["swarm.call.create_tries"] == 3


def test_a_calls_rate_limit_wait_is_an_event_of_its_chat_span_and_the_rest_stay_on_the_agent() -> (
    None
):
    log = _log()
    wait = {"step": 1, "tries": 3, "rate_limited": 2, "waited_s": 4.5, "status": 429}
    pacing = {"step": 3, "tries": 1, "rate_limited": 0, "waited_s": 1.25, "retry_after_s": None}
    lost = {"step": 9, "tries": 2, "rate_limited": 1, "waited_s": 2.0}  # its call left no step
    log.notes += [
        Note(105.5, "provider.rate_limited", "down", 1, wait),
        Note(107.2, "governor.waiting", "down", 1, pacing),
        Note(107.4, "provider.rate_limited", "down", 1, lost),
    ]
    agent, chat, tool, failed_chat = attempt_spans(log, log.attempts[("down", 1)])
    (event,) = chat.events
    assert (event.name, event.at) == ("swarm.provider.rate_limited", 105.5)
    assert event.attributes["swarm.rate_limited"] == 2 and event.attributes["swarm.status"] == 429
    assert chat.attributes["swarm.call.rate_limited"] == 2
    assert chat.attributes["swarm.call.rate_wait_s"] == 4.5
    assert [e.name for e in failed_chat.events] == ["swarm.governor.waiting"]
    assert "swarm.retry_after_s" not in failed_chat.events[0].attributes  # None is left out
    assert failed_chat.attributes["swarm.call.rate_limited"] == 0
    assert tool.events == ()
    assert [e.name for e in agent.events] == ["swarm.provider.rate_limited"]  # step 9
    assert agent.attributes["swarm.attempt.rate_wait_s"] == 7.75


def test_run_events_spell_out_nested_data() -> None:
    log = _log()
    change = {"max_tokens": {"from": 500, "to": 9000}, "max_concurrency": {"from": 8, "to": 16}}
    shortfall = {"resource": "tokens", "needed": 84.0, "left": 67.0, "flag": "--max-tokens"}
    log.notes += [
        Note(103.0, "run.paused", data=shortfall),
        Note(109.0, "run.limits_changed", data=change),
    ]
    run, _ = run_spans(log)
    paused, changed = run.events
    assert paused.name == "swarm.run.paused" and paused.attributes["swarm.resource"] == "tokens"
    assert changed.attributes == {
        "swarm.max_tokens.from": 500,
        "swarm.max_tokens.to": 9000,
        "swarm.max_concurrency.from": 8,
        "swarm.max_concurrency.to": 16,
    }
