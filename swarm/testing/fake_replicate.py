"""A local fake of Replicate's HTTP API and SSE streams, faithful enough for the real
``replicate`` client (1.0.7) to run against it unchanged, with a knob for every fault.

Endpoints: ``POST /v1/models/{owner}/{name}/predictions`` and ``POST /v1/predictions``
(create; 201 with ``status: starting`` and absolute ``urls``; ``Prefer: wait[=n]`` honoured),
``GET /v1/predictions`` (the list, newest first, by ``created_after``/``created_before``, 100 a
page), ``GET /v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel``, and
``GET /v1/streams/{key}``
(``output`` events, each with an ``id:``; then ``done {}``, ``error`` + ``done {"reason":
"error"}``, or ``done {"reason": "canceled"}``). Errors are ``application/problem+json``.

Faults: a wrong token → 401; an unknown model → 404; bad input → 422 (K2.6's input schema);
:meth:`FakeReplicate.fail_next` queues answers for the next creations (429 with or without
``Retry-After``/``ratelimit-reset``, 5xx, dropped connections); :meth:`FakeReplicate.storm`
throttles a fraction of creations for a while (from now, or once some creations went through);
:meth:`FakeReplicate.down` fails everything for a while (likewise); prompt markers (see
:mod:`swarm.testing.fake_predictions`) make predictions fail, hang, run slowly, get cancelled,
abort, drop their stream, or emit URL chunks; :attr:`FakeReplicate.prediction_faults` draws
failures, hangs and malformed answers at random rates; :meth:`FakeReplicate.restart` forgets
every prediction (open streams dropped, GETs answered 404), as a provider that lost its state
would. All times are read from the fake's ``clock``, which a test may share with the code
under test to compress minutes into seconds.

It records every request (:attr:`hits`), the times of accepted creations (:attr:`creations`)
and of cancels (:attr:`cancels`), so tests measure behaviour where Replicate would see it.
"""

from __future__ import annotations

import io
import json
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from swarm.testing._http import Exchange, FakeHTTP, Hit, sse
from swarm.testing.fake_predictions import (
    K26,
    FakePrediction,
    RandomFaults,
    Script,
    script_for,
    validate_k26,
)

FAKE_TOKEN = "r8_fake_token_for_tests_only"
FLUX = "black-forest-labs/flux-schnell"
IMAGE_MODELS = (FLUX,)
"""Text-to-image models the fake serves: their output is the URLs of files it hosts."""
FILES_PREFIX = "/files/"
_IMAGE_FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"),
                  "webp": ("WEBP", "image/webp")}  # fmt: skip
_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_MODEL_PATH = re.compile(r"^/v1/models/([^/]+)/([^/]+)/predictions$")
_PREDICTION_PATH = re.compile(r"^/v1/predictions/([^/]+)(/cancel)?$")
_STREAM_PATH = re.compile(r"^/v1/streams/([^/]+)$")
_WAIT = re.compile(r"^wait(?:=([1-9]|[1-9][0-9]|60))?$")
LIST_PAGE = 100
"""Predictions a page of ``GET /v1/predictions``, as Replicate's."""


@dataclass(frozen=True, slots=True)
class Fault:
    """An answer forced on one creation: a status (with optional hint headers) or a drop."""

    status: int = 429
    retry_after: str | None = None
    ratelimit_reset: str | None = None
    drop: bool = False
    """Close the connection without answering (a reset, to the client)."""

    def headers(self) -> dict[str, str]:
        found = {"Retry-After": self.retry_after, "ratelimit-reset": self.ratelimit_reset}
        return {name: value for name, value in found.items() if value is not None}


@dataclass
class _Storm:
    until: float | None
    """None until the storm begins, if it waits for creations."""
    seconds: float
    fraction: float
    fault: Fault
    rng: random.Random
    after: int = 0
    """A waiting storm begins with the first creation after this many were accepted."""


@dataclass
class _Outage:
    until: float | None
    """None until the outage begins, if it waits for creations."""
    seconds: float
    fault: Fault
    after: int = 0


class FakeReplicate(FakeHTTP):
    """The fake server; see the module docstring. Knobs may be changed while it runs."""

    def __init__(
        self,
        *,
        token: str = FAKE_TOKEN,
        models: tuple[str, ...] = (K26,),
        token_delay_s: float = 0.002,
        event_ids: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self.token = token
        self.models = set(models)
        self.token_delay_s = token_delay_s
        self.event_ids = event_ids
        self.answer_delay_s = 0.0
        """How long a creation's answer takes after the prediction exists (a busy provider:
        the window in which a client may die with its prediction made but not known)."""
        """Real streams tag every event with an ``id:``; the client drops events without one."""
        self.script: Callable[[dict[str, Any]], Script] | None = None
        """Overrides the prompt-marker scripts when set."""
        self.prediction_faults: RandomFaults | None = None
        """Applied to every new prediction's script when set."""
        self.predictions: dict[str, FakePrediction] = {}
        self.creations: list[float] = []
        self.cancels: dict[str, float] = {}
        self.open_streams = 0
        self.peak_streams = 0
        """The most event streams that were open at once."""
        self._faults: deque[Fault] = deque()
        self._storm: _Storm | None = None
        self._down: _Outage | None = None
        self._restart_after: int | None = None
        self.forgotten: list[str] = []
        """Ids of the predictions a restart forgot."""
        self._streams: dict[str, FakePrediction] = {}
        self.image_models = set(IMAGE_MODELS)
        self.files: dict[str, tuple[bytes, str]] = {}
        """Files the fake hosts (image predictions' outputs), by path: (bytes, content type)."""

    # -- knobs --------------------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next creations with these faults, in order."""
        with self.lock:
            self._faults.extend(faults)

    def storm(
        self,
        fraction: float,
        seconds: float,
        fault: Fault = Fault(),
        seed: int = 0,
        *,
        from_next_creation: bool = False,
        after_creations: int | None = None,
    ) -> None:
        """For ``seconds``, answer each creation with ``fault`` with probability ``fraction``.

        The storm begins now; or with the next creation that arrives; or, with
        ``after_creations``, with the first creation after that many were accepted (a storm in
        the middle of a run).
        """
        with self.lock:
            waits = from_next_creation or after_creations is not None
            until = None if waits else self.now() + seconds
            self._storm = _Storm(
                until, seconds, fraction, fault, random.Random(seed), after_creations or 0
            )

    def down(
        self, seconds: float, fault: Fault = Fault(503), *, after_creations: int | None = None
    ) -> None:
        """For ``seconds``, answer every request with ``fault`` (503 by default, or drops):
        from now, or from the first request after ``after_creations`` were accepted."""
        with self.lock:
            until = None if after_creations is not None else self.now() + seconds
            self._down = _Outage(until, seconds, fault, after_creations or 0)

    def restart(self, *, after_creations: int | None = None) -> None:
        """Forget every prediction, now or with the first request after ``after_creations``
        were accepted: its streams are dropped and ``GET /v1/predictions/{id}`` answers 404.
        Combine with :meth:`down` for a restart that takes a while."""
        with self.lock:
            if after_creations is None:
                self._forget_all()
            else:
                self._restart_after = after_creations

    def _forget_all(self) -> None:
        """Under the lock."""
        for prediction in self.predictions.values():
            prediction.forgotten = True
            prediction.cancelled.set()  # wakes its stream, which then drops the connection
        self.forgotten.extend(self.predictions)
        self.predictions.clear()
        self._streams.clear()
        self._restart_after = None

    def remove_data(self, prediction_id: str) -> None:
        """Replicate removes API predictions' inputs and outputs after an hour."""
        with self.lock:
            self.predictions[prediction_id].data_removed = True

    # -- measurements -------------------------------------------------------------------

    def creation_attempts(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.method == "POST" and h.path.endswith("/predictions")]

    def max_creations_in(self, window_s: float) -> int:
        """The most accepted creations that arrived within any ``window_s`` seconds."""
        with self.lock:
            times = sorted(self.creations)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] > window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # -- dispatch -----------------------------------------------------------------------

    def dispatch(self, exchange: Exchange) -> None:
        method, path = exchange.command, exchange.path.split("?")[0]
        with self.lock:
            if self._restart_after is not None and len(self.creations) >= self._restart_after:
                self._forget_all()
        body = exchange.read_json() if method == "POST" else None
        key = _prompt(body)
        forced = self._forced(method, path)
        if forced is not None:
            return self._answer_fault(exchange, method, path, key, forced)
        if method == "GET" and path.startswith(FILES_PREFIX):
            return self._serve_file(exchange, path)  # delivery URLs need no token
        if exchange.headers.get("Authorization") != f"Bearer {self.token}":
            self.record(Hit(self.now(), method, path, 401, key))
            detail = "You did not pass a valid authentication token"
            return exchange.send_problem(401, "Unauthenticated", detail)
        if method == "POST" and (_MODEL_PATH.match(path) or path == "/v1/predictions"):
            return self._create(exchange, path, body, key)
        if method == "GET" and path == "/v1/predictions":
            return self._list(exchange, path)
        match = _PREDICTION_PATH.match(path)
        if match and (method == "GET" or match.group(2)):
            return self._prediction(exchange, method, path, match.group(1), bool(match.group(2)))
        match = _STREAM_PATH.match(path)
        if match and method == "GET":
            return self._stream(exchange, path, match.group(1))
        self._not_found(exchange, Hit(self.now(), method, path, 404))

    def _not_found(self, exchange: Exchange, hit: Hit) -> None:
        self.record(hit)  # before answering, so a client that got the answer finds the record
        exchange.send_problem(404, "Not found", "The requested resource could not be found.")

    def _forced(self, method: str, path: str) -> Fault | None:
        """A fault this request gets: the provider is down, or a creation is throttled."""
        now = self.now()
        creating = method == "POST" and not path.endswith("/cancel")
        with self.lock:
            outage = self._down
            if outage is not None and outage.until is None and len(self.creations) >= outage.after:
                outage.until = now + outage.seconds
            if outage is not None and outage.until is not None and now < outage.until:
                return outage.fault
            if not creating:
                return None
            if self._faults:
                return self._faults.popleft()
            storm = self._storm
            if storm is None:
                return None
            if storm.until is None:
                if len(self.creations) < storm.after:
                    return None
                storm.until = now + storm.seconds
            if now < storm.until and storm.rng.random() < storm.fraction:
                return storm.fault
        return None

    def _answer_fault(
        self, exchange: Exchange, method: str, path: str, key: str | None, fault: Fault
    ) -> None:
        self.record(
            Hit(self.now(), method, path, 0 if fault.drop else fault.status, key, fault.retry_after)
        )
        if fault.drop:
            return exchange.drop()
        title = HTTPStatus(fault.status).phrase
        detail = "Try again later." if fault.status >= 500 else f"{title} (fault injected)"
        if fault.status == 429:
            detail = "Request was throttled. Expected available in 1 second."
        exchange.send_problem(fault.status, title, detail, fault.headers())

    def _create(self, exchange: Exchange, path: str, body: Any, key: str | None) -> None:
        model_match = _MODEL_PATH.match(path)
        model = "/".join(model_match.groups()) if model_match else "fake/versioned"
        if model_match and model not in self.models | self.image_models:
            return self._not_found(exchange, Hit(self.now(), "POST", path, 404, key))
        inputs = body.get("input") if isinstance(body, dict) else None
        problems = (
            validate_k26(inputs)
            if model == K26
            else validate_image_input(inputs)
            if model in self.image_models
            else ([] if isinstance(inputs, dict) else ["input: is required"])
        )
        if problems:
            self.record(Hit(self.now(), "POST", path, 422, key))
            return exchange.send_json(
                422,
                {
                    "title": "Input validation failed",
                    "status": 422,
                    "detail": "".join(f"- {p}\n" for p in problems),
                    "invalid_fields": [
                        {"type": "invalid", "field": p.split(":")[0], "description": p}
                        for p in problems
                    ],
                },
                content_type="application/problem+json",
            )
        assert isinstance(inputs, dict)
        script = self.script(inputs) if self.script else script_for(inputs, self.token_delay_s)
        if model in self.image_models:
            script = self._image_script(inputs, script)
        with self.lock:
            if self.prediction_faults is not None:
                script = self.prediction_faults.apply(script)
            prediction = FakePrediction(model, inputs, script, self.now())
            self.predictions[prediction.id] = prediction
            self._streams[prediction.stream_key] = prediction
            self.creations.append(prediction.created)
            # In the same critical section as the count a storm waits for, so the hits list
            # never shows a 429 ahead of a creation that came before it.
            self.hits.append(Hit(prediction.created, "POST", path, 201, key))
        if self.answer_delay_s > 0:
            self.wait(self.answer_delay_s)
        headers = self._wait_for(exchange, prediction)
        answer = prediction.to_json(self.base_url, self.now())
        if headers and answer["status"] == "processing":
            answer["status"] = "starting"  # what Replicate answers when the wait runs out
        prediction.answered_epoch = time.time()  # just before: a client may have it from now
        exchange.send_json(201, answer, headers)

    def _wait_for(self, exchange: Exchange, prediction: FakePrediction) -> dict[str, str]:
        """``Prefer: wait[=n]``: hold the answer up to n seconds for the prediction to end."""
        match = _WAIT.match(exchange.headers.get("Prefer", "").strip())
        if not match:
            return {}
        limit = self.now() + float(match.group(1) or 60)
        ends = prediction.ends
        deadline = min(limit, ends) if ends is not None else limit
        while (left := deadline - self.now()) > 0 and not self.stopping.is_set():
            if prediction.cancelled.wait(min(left, 0.05)):  # short waits: the clock may be fast
                break
        return {"Preference-Applied": "wait"}

    def _list(self, exchange: Exchange, path: str) -> None:
        """``GET /v1/predictions``: newest first, ``LIST_PAGE`` a page, ``created_after`` and
        ``created_before`` honoured, ``next`` an absolute URL carrying a cursor."""
        query = parse_qs(urlsplit(exchange.path).query)
        after = _epoch(query.get("created_after", [None])[0], float("-inf"))
        before = _epoch(query.get("created_before", [None])[0], float("inf"))
        offset = int(query.get("cursor", ["0"])[0])
        now = self.now()
        with self.lock:
            found = [p for p in self.predictions.values() if after <= p.created_epoch < before]
        found.sort(key=lambda p: p.created_epoch, reverse=True)
        page = found[offset : offset + LIST_PAGE]
        nxt = None
        if offset + LIST_PAGE < len(found):
            rest = {k: v[0] for k, v in query.items() if k != "cursor"}
            nxt = f"{self.base_url}{path}?{urlencode({**rest, 'cursor': offset + LIST_PAGE})}"
        self.record(Hit(now, "GET", path, 200))
        results = [p.to_json(self.base_url, now) for p in page]
        exchange.send_json(200, {"next": nxt, "previous": None, "results": results})

    def _prediction(
        self, exchange: Exchange, method: str, path: str, ref: str, cancel: bool
    ) -> None:
        with self.lock:
            prediction = self.predictions.get(ref)
        if prediction is None:
            return self._not_found(exchange, Hit(self.now(), method, path, 404))
        now = self.now()
        if cancel:
            with self.lock:
                prediction.cancel(now)
                self.cancels.setdefault(ref, now)
        self.record(Hit(now, method, path, 200))
        exchange.send_json(200, prediction.to_json(self.base_url, self.now()))

    def _stream(self, exchange: Exchange, path: str, stream_key: str) -> None:
        with self.lock:
            prediction = self._streams.get(stream_key)
        if prediction is None:
            return self._not_found(exchange, Hit(self.now(), "GET", path, 404))
        self.record(Hit(self.now(), "GET", path, 200))
        with self.lock:
            self.open_streams += 1
            self.peak_streams = max(self.peak_streams, self.open_streams)
        try:
            self._send_events(exchange, prediction)
        finally:
            with self.lock:
                self.open_streams -= 1

    def _send_events(self, exchange: Exchange, prediction: FakePrediction) -> None:
        exchange.start_stream()
        ids = (f"{int(prediction.created_epoch)}:{n}" for n in range(1_000_000))
        script = prediction.script
        for index in range(prediction.emitted):
            if not self._until(prediction, prediction.emit_time(index)):
                break
            if script.drop_stream_after == index and not prediction.dropped:
                prediction.dropped = True
                return exchange.drop()
            exchange.send_chunk(self._event("output", script.tokens[index], next(ids)))
        if prediction.ends is None:  # hangs until cancelled (or the fake stops)
            while not prediction.cancelled.is_set() and self.wait(0.05):
                pass
        self._until(prediction, prediction.ends or self.now())
        if prediction.forgotten:
            return exchange.drop()  # the server restarted: the connection is gone
        status, _ = prediction.state(self.now())
        for event, data in _ending(status, script.error):
            exchange.send_chunk(self._event(event, data, next(ids)))
        exchange.end_stream()

    def _until(self, prediction: FakePrediction, t: float) -> bool:
        """Wait until ``t``; False if the prediction is cancelled or the fake stops first."""
        while (left := t - self.now()) > 0:
            if prediction.cancelled.wait(min(left, 0.05)) or self.stopping.is_set():
                return False
        return not prediction.cancelled.is_set()

    def _event(self, event: str, data: str, event_id: str) -> bytes:
        return sse(event, data, event_id if self.event_ids else None)

    # -- image predictions ----------------------------------------------------------------

    def _image_script(self, inputs: dict[str, Any], script: Script) -> Script:
        """An image prediction's script: its output is one hosted file URL per image (each a
        real picture in the format asked for; ``[not-image]`` in the prompt hosts an HTML page
        under the image's name instead, as a misbehaving CDN might)."""
        prompt = str(inputs.get("prompt", ""))
        fmt = str(inputs.get("output_format") or "webp")
        key = secrets.token_hex(8)
        urls = []
        for n in range(int(inputs.get("num_outputs") or 1)):
            path = f"{FILES_PREFIX}{key}/out-{n}.{fmt}"
            if "[not-image]" in prompt:
                body = (b"<!DOCTYPE html><title>Error</title>", "image/" + fmt)
            else:
                body = fake_image(prompt, n, str(inputs.get("aspect_ratio") or "1:1"), fmt)
            with self.lock:
                self.files[path] = body
            urls.append(f"{self.base_url}{path}")
        return replace(script, tokens=urls)

    def _serve_file(self, exchange: Exchange, path: str) -> None:
        with self.lock:
            found = self.files.get(path)
        if found is None:
            return self._not_found(exchange, Hit(self.now(), "GET", path, 404))
        self.record(Hit(self.now(), "GET", path, 200))
        data, content_type = found
        exchange.send_response(200)
        exchange.send_header("Content-Type", content_type)
        exchange.send_header("Content-Length", str(len(data)))
        exchange.end_headers()
        exchange.wfile.write(data)


def validate_image_input(inputs: Any) -> list[str]:
    """flux-schnell's input schema, as Replicate checks it (422 on any problem)."""
    if not isinstance(inputs, dict):
        return ["input: is required and must be an object"]
    problems = []
    if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"].strip():
        problems.append("input.prompt: is required and must be a string")
    count = inputs.get("num_outputs", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
        problems.append("input.num_outputs: must be an integer between 1 and 4")
    if inputs.get("aspect_ratio", "1:1") not in _ASPECTS:
        problems.append(f"input.aspect_ratio: must be one of {', '.join(_ASPECTS)}")
    if inputs.get("output_format", "webp") not in _IMAGE_FORMATS:
        problems.append("input.output_format: must be one of webp, jpg, png")
    return problems


def fake_image(prompt: str, index: int, aspect_ratio: str, fmt: str) -> tuple[bytes, str]:
    """A small picture in ``fmt``, its colour drawn from the prompt (bytes, content type)."""
    from PIL import Image

    a, _, b = aspect_ratio.partition(":")
    width, height = 64 * int(a) // max(int(a), int(b)) * 4, 64 * int(b) // max(int(a), int(b)) * 4
    rng = random.Random(f"{prompt}\0{index}")
    colour = tuple(rng.randrange(256) for _ in range(3))
    encoder, content_type = _IMAGE_FORMATS[fmt]
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, encoder)
    return out.getvalue(), content_type


def _ending(status: str, error: str) -> list[tuple[str, str]]:
    """The last events of a stream, by how the prediction ended."""
    if status == "failed":
        return [("error", json.dumps({"detail": error})), ("done", '{"reason": "error"}')]
    if status in ("canceled", "aborted"):
        return [("done", json.dumps({"reason": status}))]
    if status == "succeeded":
        return [("done", "{}")]
    return []  # still running: the fake is stopping


def _epoch(stamp: str | None, default: float) -> float:
    if not stamp:
        return default
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _prompt(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("input"), dict):
        prompt = body["input"].get("prompt")
        return prompt if isinstance(prompt, str) else None
    return None
