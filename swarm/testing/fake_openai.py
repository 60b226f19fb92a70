"""A local fake of an OpenAI-compatible chat server (what Moonshot's platform, vLLM and SGLang
serve): ``POST /v1/chat/completions``, streamed as ``data:`` chunks ending in ``data: [DONE]``,
with a usage chunk when ``stream_options.include_usage`` is set, or one JSON answer.

Faults: a wrong key → 401, an unknown model → 404, a body without messages → 400,
:meth:`FakeOpenAI.fail_next` for 429 (with or without ``Retry-After``), 5xx or dropped
connections; prompt markers ``[hang]`` (stop after one chunk until the client leaves),
``[error]`` (an error chunk mid-stream) and ``[truncate]`` (close without ``[DONE]``).

Native tool calls: :meth:`FakeOpenAI.script_tool_calls` queues turns of calls; a request that
offers ``tools`` takes the next turn and gets its calls streamed as ``delta.tool_calls``
fragments (name first, arguments in two pieces, interleaved across the calls as a server
streaming parallel calls does), finishing with ``tool_calls``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from typing import Any

from swarm.testing._http import Exchange, FakeHTTP, Hit, sse
from swarm.testing.fake_predictions import answer_tokens, count_tokens
from swarm.testing.fake_replicate import Fault

FAKE_KEY = "sk-fake-key-for-tests-only"


class FakeOpenAI(FakeHTTP):
    def __init__(
        self,
        *,
        key: str = FAKE_KEY,
        models: tuple[str, ...] = ("moonshotai/kimi-k2.6", "kimi-k2.6"),
        token_delay_s: float = 0.001,
    ) -> None:
        super().__init__()
        self.key = key
        self.models = set(models)
        self.token_delay_s = token_delay_s
        self.requests: list[dict[str, Any]] = []
        """Bodies of the chat requests that were answered."""
        self._faults: deque[Fault] = deque()
        self._tool_turns: deque[list[tuple[str, dict[str, Any]]]] = deque()

    def script_tool_calls(self, *turns: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue answers of native tool calls: each turn is a list of (function, arguments)."""
        with self.lock:
            self._tool_turns.extend(turns)

    def fail_next(self, *faults: Fault) -> None:
        with self.lock:
            self._faults.extend(faults)

    def dispatch(self, exchange: Exchange) -> None:
        path = exchange.path.split("?")[0]
        body = exchange.read_json() if exchange.command == "POST" else None
        now = self.now()
        with self.lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            self.record(Hit(now, exchange.command, path, 0 if fault.drop else fault.status))
            if fault.drop:
                return exchange.drop()
            return _error(
                exchange,
                fault.status,
                "slow down" if fault.status == 429 else "server error",
                fault.headers(),
            )
        status, message, code = self._check(exchange, path, body)
        self.record(Hit(now, exchange.command, path, status))
        if status != 200 or not isinstance(body, dict):
            return _error(exchange, status, message, code=code)
        with self.lock:
            self.requests.append(body)
        turn = None
        if body.get("tools"):
            with self.lock:
                turn = self._tool_turns.popleft() if self._tool_turns else None
        if turn is not None and body.get("stream"):
            return self._stream_calls(exchange, body, turn)
        if body.get("stream"):
            return self._stream(exchange, body)
        exchange.send_json(200, _completion(body))

    def _check(self, exchange: Exchange, path: str, body: Any) -> tuple[int, str, str | None]:
        """(status, error message, error code) of a request; 200 if it is fine."""
        if exchange.headers.get("Authorization") != f"Bearer {self.key}":
            return 401, "Incorrect API key provided.", "invalid_api_key"
        if exchange.command != "POST" or path != "/v1/chat/completions":
            return 404, f"no route {exchange.command} {path}", None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return 400, "'messages' is a required property", None
        if body.get("model") not in self.models:
            return 404, f"The model `{body.get('model')}` does not exist.", "model_not_found"
        return 200, "", None

    def _stream(self, exchange: Exchange, body: dict[str, Any]) -> None:
        prompt = _prompt(body)
        tokens, finish = _tokens(body)
        ident = f"chatcmpl-{secrets.token_hex(8)}"
        exchange.start_stream()
        send = exchange.send_chunk
        send(_data(_chunk(ident, body, {"role": "assistant", "content": ""})))
        if body.get("reasoning_effort") not in (None, "none"):
            send(_data(_chunk(ident, body, {"reasoning_content": "Let me think."})))
        for index, token in enumerate(tokens):
            if not self.wait(self.token_delay_s):
                return exchange.drop()
            if index == 1 and "[hang]" in prompt:
                while self.wait(0.05):
                    pass
                return exchange.drop()
            if index == 1 and "[error]" in prompt:
                send(_data({"error": {"message": "engine crashed", "code": 500}}))
                return exchange.end_stream()
            if index == 1 and "[truncate]" in prompt:
                return exchange.end_stream()
            send(_data(_chunk(ident, body, {"content": token})))
        send(_data(_chunk(ident, body, {}, finish)))
        if (body.get("stream_options") or {}).get("include_usage"):
            send(_data({**_chunk(ident, body, {}), "choices": [], "usage": _usage(body, tokens)}))
        send(b"data: [DONE]\n\n")
        exchange.end_stream()

    def _stream_calls(
        self, exchange: Exchange, body: dict[str, Any], turn: list[tuple[str, dict[str, Any]]]
    ) -> None:
        ident = f"chatcmpl-{secrets.token_hex(8)}"
        exchange.start_stream()
        send = exchange.send_chunk
        send(_data(_chunk(ident, body, {"role": "assistant", "content": None})))
        texts = [json.dumps(args) for _, args in turn]
        for i, (name, _) in enumerate(turn):
            head = {"index": i, "id": f"call_{i}", "type": "function"}
            head["function"] = {"name": name, "arguments": texts[i][: len(texts[i]) // 2]}
            send(_data(_chunk(ident, body, {"tool_calls": [head]})))
        for i, text in enumerate(texts):
            rest = {"index": i, "function": {"arguments": text[len(text) // 2 :]}}
            send(_data(_chunk(ident, body, {"tool_calls": [rest]})))
        send(_data(_chunk(ident, body, {}, "tool_calls")))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = _usage(body, [t for text in texts for t in text.split()])
            send(_data({**_chunk(ident, body, {}), "choices": [], "usage": usage}))
        send(b"data: [DONE]\n\n")
        exchange.end_stream()


def _prompt(body: dict[str, Any]) -> str:
    content = body["messages"][-1].get("content", "") if body["messages"] else ""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _tokens(body: dict[str, Any]) -> tuple[list[str], str]:
    tokens = answer_tokens({"prompt": _prompt(body)})
    cap = int(body.get("max_tokens") or 4096)
    return (tokens[:cap], "length") if len(tokens) > cap else (tokens, "stop")


def _usage(body: dict[str, Any], tokens: list[str]) -> dict[str, int]:
    text = " ".join(
        m["content"] if isinstance(m.get("content"), str) else _prompt({"messages": [m]})
        for m in body["messages"]
    )
    prompt_tokens, completion = count_tokens(text), len(tokens)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }


def _chunk(
    ident: str, body: dict[str, Any], delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    tokens, finish = _tokens(body)
    return {
        "id": f"chatcmpl-{secrets.token_hex(8)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens)},
                "finish_reason": finish,
            }
        ],
        "usage": _usage(body, tokens),
    }


def _data(payload: dict[str, Any]) -> bytes:
    return sse(None, json.dumps(payload), None)


def _error(
    exchange: Exchange,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> None:
    kind = "rate_limit_error" if status == 429 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    exchange.send_json(status, body, headers)
