"""The ``image`` kind: pictures from a text-to-image model, written as artifacts for the
aggregators (``site``, ``slides``, ``document``) to embed.

The task's ``prompt`` describes the picture; its ``model`` (``black-forest-labs/flux-schnell`` by
default) runs on Replicate through the real client, or the sim draws labelled placeholders. One
prediction is one step of the allowance, its worst-case cost (the per-image price times
``count``) is reserved from the run's budget before it is created and settled on what came back,
and it is journaled like any prediction, so a resumed run re-attaches instead of paying twice.
Every image is checked (its first bytes and a full decode) before it is written, with its sha256.

Config: ``count`` (1–4), ``aspect_ratio`` (``1:1``, ``16:9``, …), ``format`` (``png``, ``jpg``,
``webp``), ``seed``, ``alt`` (alt text; the prompt by default), ``filename`` (the files' base
name, numbered).
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from swarm.errors import BudgetExceeded, ConfigError, Problem, ProviderError, TaskError
from swarm.plan import TaskSpec
from swarm.providers.image_gen import (
    DEFAULT_IMAGE_MODEL,
    ImageRequest,
    ImageResult,
    image_generator,
    image_price,
)
from swarm.store.ops import StepRecord
from workers.aggregate import common
from workers.aggregate.images import EXTENSIONS, dimensions
from workers.base import TaskContext
from workers.rules import image as rules


class ImageWorker:
    kind: ClassVar[str] = "image"
    description: ClassVar[str] = (
        "pictures from a text-to-image model (flux-schnell on Replicate by default), stored as "
        "artifacts for site, slides and document tasks to embed"
    )
    default_steps: ClassVar[int] = 1

    def check(self, spec: TaskSpec) -> list[Problem]:
        return rules.check(spec)

    async def run(self, ctx: TaskContext) -> str:
        spec, cfg = ctx.spec, ctx.spec.config
        model = spec.model or DEFAULT_IMAGE_MODEL
        request = ImageRequest(
            model=model,
            prompt=spec.prompt.strip(),
            count=int(cfg.get("count", 1)),
            aspect_ratio=str(cfg.get("aspect_ratio", "1:1")),
            output_format=str(cfg.get("format", "png")),
            seed=cfg.get("seed"),
            call_key=f"{ctx.run_id}/{spec.id}/{ctx.attempt}/{len(ctx.steps) + 1}",
            journal=ctx.journal,
        )
        result = await generate(ctx, request)
        stem = common.stem_of(spec)
        alt = str(cfg.get("alt") or request.prompt)
        listed: list[dict[str, Any]] = []
        for n, image in enumerate(result.images, start=1):
            width, height = await common.off_loop(dimensions, image.data, f"image {n}")
            name = f"{stem}-{n}.{EXTENSIONS[image.mime]}"
            path = await common.write(ctx, "image", name, image.data)
            listed.append(
                {"path": path, "mime": image.mime, "width": width, "height": height,
                 "bytes": len(image.data), "sha256": ctx.artifacts[-1].sha256}
            )  # fmt: skip
        simulated = result.simulated or common.simulated(ctx)
        return json.dumps(
            {"kind": "image", "model": model, "prompt": request.prompt, "alt": alt,
             "simulated": simulated, "images": listed}, ensure_ascii=False,
        )  # fmt: skip


async def generate(ctx: TaskContext, request: ImageRequest) -> ImageResult:
    """One metered image prediction: a step, a cost reservation settled on the images that came
    back, and a step record (with the prediction id) whatever the outcome."""
    if ctx.steps_left < 1:
        raise BudgetExceeded(
            f"step allowance of {ctx.allowance} used up",
            hint="raise the task's max_steps or the run's budget.max_steps",
        )
    try:
        price = image_price(request.model)
    except ConfigError as exc:
        raise TaskError(exc.message, retryable=False, hint=exc.hint) from None
    with ctx.hold_timeout():  # waits for room at the run's budget gate (not the task's time)
        reservation = await ctx.budget.reserve(0, price * request.count)
    started = time.time()
    result: ImageResult | None = None
    error: ProviderError | None = None
    try:
        result = await image_generator(ctx.provider).generate(request)
    except ProviderError as exc:
        error = exc
        raise
    finally:
        made = len(result.images) if result else 0
        cost = price * made
        ctx.budget.settle(reservation, 0, cost)
        ctx.cost_usd += cost
        detail: dict[str, Any] = {"images": made, "aspect_ratio": request.aspect_ratio}
        if error is not None:
            detail["error"] = str(error)
        ctx.steps.append(
            StepRecord(
                n=len(ctx.steps) + 1,
                kind="model",
                name=request.model,
                started_at=started,
                latency_s=time.time() - started,
                cost_usd=cost,
                ref=result.ref if result else None,
                detail=detail,
            )
        )
    return result
