"""What goes into a Replicate prediction and what comes out of it: K2.6's inputs and their
limits, the states of a prediction, turning its streamed or stored output into text, and
recognising a creation in Replicate's list of predictions. No I/O here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from replicate.prediction import Prediction

from swarm.errors import ProviderError
from swarm.providers.base import ModelRequest, estimate_tokens

DEFAULT_MODEL = "moonshotai/kimi-k2.6"
DEFAULT_BASE_URL = "https://api.replicate.com"
LIVE = frozenset({"starting", "processing"})
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
K26_EFFORTS = frozenset({"none", "low", "medium", "high"})
K26_MAX_TOKENS = 32_768
_OPTIONAL_INPUTS = (
    "system_prompt",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
)
_MODEL_REF = re.compile(r"^[\w.-]+/[\w.-]+(?::\w+)?$")


def check_request(request: ModelRequest) -> None:
    """Refuse, before paying for anything, a request the model cannot accept."""
    if not _MODEL_REF.match(request.model):
        raise ProviderError(
            f"{request.model!r} is not a Replicate model reference",
            retryable=False,
            hint="use owner/name (e.g. moonshotai/kimi-k2.6) or owner/name:version",
        )
    if request.model != DEFAULT_MODEL:
        return
    if not 1 <= request.max_tokens <= K26_MAX_TOKENS:
        raise ProviderError(
            f"max_tokens={request.max_tokens}: Kimi K2.6 takes 1 to {K26_MAX_TOKENS}",
            retryable=False,
            hint="set params.max_tokens in the plan within that range",
        )
    if request.reasoning_effort is not None and request.reasoning_effort not in K26_EFFORTS:
        raise ProviderError(
            f"reasoning_effort={request.reasoning_effort!r}: Kimi K2.6 takes "
            + ", ".join(sorted(K26_EFFORTS)),
            retryable=False,
        )


def model_input(request: ModelRequest, images: list[str]) -> dict[str, Any]:
    """The prediction's ``input``: the prompt, ``max_tokens``, and every parameter that is set
    (unset ones are left out so the model's own defaults apply)."""
    payload: dict[str, Any] = {"prompt": request.prompt, "max_tokens": request.max_tokens}
    for key in _OPTIONAL_INPUTS:
        value = getattr(request, key)
        if value is not None:
            payload[key] = value
    if images:
        payload["image_input"] = images
    return payload


def fingerprint(model: str, payload: Mapping[str, Any]) -> str:
    """What identifies a creation's prediction in Replicate's list of predictions: the model's
    name and the input as sent. ``image_input`` is left out (Replicate does not keep ``data:``
    URIs), as is the version (the list gives the model by name)."""
    name = model.partition(":")[0]
    kept = {k: v for k, v in payload.items() if k != "image_input"}
    text = json.dumps([name, kept], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def listed_fingerprint(item: object) -> str | None:
    """:func:`fingerprint` of a prediction in ``GET /v1/predictions``; None when it cannot be
    told (its input removed, as Replicate does an hour after an API prediction ends)."""
    if not isinstance(item, dict) or item.get("data_removed"):
        return None
    model, inputs = item.get("model"), item.get("input")
    if not isinstance(model, str) or not isinstance(inputs, dict):
        return None
    return fingerprint(model, inputs)


def list_url(created_after: float) -> str:
    """The first page of predictions created at or after ``created_after`` (epoch seconds)."""
    stamp = datetime.fromtimestamp(created_after, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"/v1/predictions?created_after={stamp}"


def normalise_base_url(url: str) -> str:
    """The client's paths start with ``/v1``: a base URL ending in ``/v1`` would double it."""
    url = url.strip().rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


@dataclass(frozen=True, slots=True)
class Streamed:
    """What the SSE stream delivered before it ended."""

    text: str
    complete: bool
    """A ``done`` event without a reason: the text is the whole output."""
    first_token_s: float | None
    stalled: bool = False
    """No event arrived within the read timeout."""


@dataclass(frozen=True, slots=True)
class Finished:
    """A prediction that reached its end, and what came out of it."""

    id: str
    status: str
    """``succeeded``, ``failed``, ``canceled``, or a status the client cannot parse."""
    text: str
    metrics: dict[str, Any]
    error: str | None
    first_token_s: float | None = None


def finished_from(prediction: Prediction, streamed: Streamed | None) -> Finished:
    """The streamed text if the stream was whole, else the prediction's own output."""
    if streamed is not None and streamed.complete:
        text = streamed.text
    else:
        text = join_output(prediction.output)
    first = streamed.first_token_s if streamed else None
    return Finished(
        prediction.id,
        prediction.status,
        text,
        dict(prediction.metrics or {}),
        prediction.error,
        first,
    )


def chunk_text(data: object) -> str:
    """An output chunk as text: the client turns chunks that look like URLs into ``FileOutput``
    objects, whose ``url`` is the text the model wrote."""
    if isinstance(data, str):
        return data
    url = getattr(data, "url", None)
    return url if isinstance(url, str) else str(data)


def join_output(output: object) -> str:
    """A prediction's ``output``: K2.6 gives a list of string chunks; others may give a string."""
    if output is None:
        return ""
    if isinstance(output, list):
        return "".join(chunk_text(part) for part in output)
    return output if isinstance(output, str) else json.dumps(output)


def done_reason(data: str) -> str | None:
    """The ``reason`` of a ``done`` event (``canceled``, ``error``…), None for a clean end."""
    try:
        payload = json.loads(data) if data.strip() else {}
    except ValueError:
        return "unreadable done event"
    reason = payload.get("reason") if isinstance(payload, dict) else None
    return str(reason) if reason else None


def estimate_in(request: ModelRequest) -> int:
    return estimate_tokens(request.prompt) + estimate_tokens(request.system_prompt or "")


def count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
