"""The sim provider's images: deterministic offline placeholder PNGs, labelled simulated.

Each picture is drawn from a seed made of the model, the prompt and its index, so a resumed run
gets the same bytes: a two-colour gradient, a few soft shapes, the word SIMULATED across it and
the prompt's first words beneath, and a PNG text chunk saying what it is. Nobody could take one
for a real model's picture.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
import time

import anyio.to_thread
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from swarm.providers.image_gen import GeneratedImage, ImageRequest, ImageResult

LONG_SIDE = 768
"""Placeholders are small: big enough to look at in a deck or a page, cheap to draw."""
LABEL = "SIMULATED"


def size_for(aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for an ``a:b`` ratio, the long side :data:`LONG_SIDE`, both even."""
    a, _, b = aspect_ratio.partition(":")
    w, h = float(a or 1), float(b or 1)
    scale = LONG_SIDE / max(w, h)
    return int(w * scale) // 2 * 2, int(h * scale) // 2 * 2


def placeholder(request: ImageRequest, index: int) -> bytes:
    """One placeholder PNG."""
    seed = hashlib.sha256(f"{request.model}\0{request.prompt}\0{index}".encode()).digest()
    rng = random.Random(seed)
    width, height = size_for(request.aspect_ratio)
    top = tuple(rng.randrange(40, 200) for _ in range(3))
    bottom = tuple(rng.randrange(40, 200) for _ in range(3))
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for _ in range(5):
        r = rng.randrange(height // 8, height // 3)
        x, y = rng.randrange(width), rng.randrange(height)
        shade = tuple(min(255, c + 40) for c in top)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=shade, width=6)
    big = ImageFont.load_default(size=max(24, width // 9))
    small_size = max(12, min(width, height * 2) // 40)
    small = ImageFont.load_default(size=small_size)
    box = draw.textbbox((0, 0), LABEL, font=big)
    at = ((width - (box[2] - box[0])) // 2, height // 2 - (box[3] - box[1]))
    draw.text(at, LABEL, font=big, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0))
    caption = " ".join(request.prompt.split()) or "(no prompt)"
    lines = textwrap.wrap(caption, 56, max_lines=3, placeholder=" …")
    line_height = int(small_size * 1.3)
    for n, line in enumerate(lines):
        at_y = height * 7 // 10 + n * line_height
        draw.text((width // 20, at_y), line, font=small, fill=(255, 255, 255))
    info = PngInfo()
    info.add_text("Comment", f"simulated placeholder from swarm's sim provider: {caption[:200]}")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, optimize=False)
    return out.getvalue()


class SimImages:
    """:class:`~swarm.providers.image_gen.ImageGenerator` of placeholders (always PNG: the sim
    draws, it does not encode every format a model may return)."""

    async def generate(self, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        pictures = []
        for n in range(request.count):
            data = await anyio.to_thread.run_sync(placeholder, request, n)
            pictures.append(GeneratedImage(data, "image/png", f"sim:{n + 1}"))
        ref = "sim-" + hashlib.sha256(request.call_key.encode()).hexdigest()[:16]
        return ImageResult(tuple(pictures), ref, time.perf_counter() - started, simulated=True)
