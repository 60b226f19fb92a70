"""The ``image`` kind: pictures through the real ``replicate`` client against the local fake
(created, journaled, polled, downloaded and checked, metered per image), re-attached on resume,
refused when the download is not an image or the budget cannot cover it; the sim's labelled
placeholders; and image tasks embedded by the slides and document kinds in a whole run."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import anyio
import docx
import pytest
from PIL import Image
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from swarm.core.budget import Budget
from swarm.errors import BudgetExceeded, ProviderError
from swarm.providers.image_gen import DEFAULT_IMAGE_MODEL, image_price
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.runtime.budget_gate import BudgetGate
from swarm.store.store import Store
from swarm.testing.fake_replicate import FakeReplicate
from swarm.testing.journal import MemoryJournal
from swarm.validation import validate_data
from tests.aggregate.conftest import context, problems
from tests.fakes import ScriptedProvider
from tests.providers.conftest import fast_provider
from workers.base import TaskContext
from workers.registry import get_worker


def image_ctx(tmp: Path, provider: Any, prompt: str = "A red kite", **config: Any) -> TaskContext:
    ctx = context(tmp, "image", {}, config, task_id="kite", prompt=prompt, provider=provider)
    ctx.journal = MemoryJournal()
    return ctx


async def run_on_fake(fake: FakeReplicate, ctx_of: Any) -> tuple[TaskContext, Any]:
    """Run an image task on a provider pointed at ``fake``; (context, result or error)."""
    provider = fast_provider(fake)
    ctx = ctx_of(provider)
    try:
        return ctx, json.loads(await get_worker("image").run(ctx))
    except ProviderError as exc:
        return ctx, exc
    finally:
        await provider.aclose()


def test_images_come_through_the_real_client_checked_stored_and_metered(tmp_path: Path) -> None:
    with FakeReplicate() as fake:
        ctx, result = anyio.run(
            run_on_fake, fake, lambda p: image_ctx(tmp_path, p, count=2, aspect_ratio="16:9")
        )
        (create,) = fake.creation_attempts()
        downloads = [h for h in fake.hits if h.path.startswith("/files/")]
        (prediction,) = fake.predictions.values()
    assert create.path == f"/v1/models/{DEFAULT_IMAGE_MODEL}/predictions" and create.status == 201
    assert prediction.inputs == {"prompt": "A red kite", "num_outputs": 2,
                                 "aspect_ratio": "16:9", "output_format": "png"}  # fmt: skip
    assert len(downloads) == 2 and {h.status for h in downloads} == {200}
    assert result["kind"] == "image" and result["alt"] == "A red kite" and not result["simulated"]
    assert [i["path"] for i in result["images"]] == ["kite/kite-1.png", "kite/kite-2.png"]
    for item, artifact in zip(result["images"], ctx.artifacts, strict=True):
        data = (tmp_path / item["path"]).read_bytes()
        assert artifact.kind == "image" and artifact.path == item["path"]
        assert artifact.sha256 == item["sha256"] == hashlib.sha256(data).hexdigest()
        assert Image.open(io.BytesIO(data)).size == (item["width"], item["height"]) == (256, 144)
    (step,) = ctx.steps
    price = image_price(DEFAULT_IMAGE_MODEL)
    assert step.name == DEFAULT_IMAGE_MODEL and step.ref == prediction.id
    assert step.cost_usd == pytest.approx(2 * price) == ctx.budget.budget.spent_cost_usd
    assert ctx.budget.budget.held_cost_usd == pytest.approx(0.0)
    journal = ctx.journal
    assert isinstance(journal, MemoryJournal)
    assert [e[0] for e in journal.events] == ["intended", "created", "succeeded"]


def test_a_retried_attempt_reattaches_to_its_prediction_instead_of_paying_twice(
    tmp_path: Path,
) -> None:
    journal = MemoryJournal()

    def attempt(n: int) -> Any:
        def make(provider: Any) -> TaskContext:
            ctx = image_ctx(tmp_path, provider)
            ctx.journal, ctx.attempt = journal, n
            return ctx

        return make

    with FakeReplicate() as fake:
        _, first = anyio.run(run_on_fake, fake, attempt(1))
        _, second = anyio.run(run_on_fake, fake, attempt(2))
        assert len(fake.creation_attempts()) == 1
    assert first["images"] == second["images"]  # the same prediction's file, downloaded again


def test_a_download_that_is_not_an_image_is_refused_and_retryable(tmp_path: Path) -> None:
    with FakeReplicate() as fake:
        ctx, error = anyio.run(run_on_fake, fake, lambda p: image_ctx(tmp_path, p, "[not-image]"))
    assert isinstance(error, ProviderError) and error.retryable
    assert "is not an image" in str(error) and ctx.artifacts == []
    (step,) = ctx.steps
    assert step.detail is not None and "not an image" in step.detail["error"]
    assert step.cost_usd == 0.0 and ctx.budget.budget.held_cost_usd == pytest.approx(0.0)


def test_the_budget_is_checked_before_any_prediction_is_created(tmp_path: Path) -> None:
    with FakeReplicate() as fake:

        def make(provider: Any) -> TaskContext:
            ctx = image_ctx(tmp_path, provider, count=4)
            ctx.budget = BudgetGate(Budget(max_cost_usd=3 * image_price(DEFAULT_IMAGE_MODEL)))
            return ctx

        with pytest.raises(BudgetExceeded):
            anyio.run(run_on_fake, fake, make)
        assert fake.creation_attempts() == []


def test_the_sim_draws_deterministic_placeholders_labelled_simulated(tmp_path: Path) -> None:
    digests = []
    for n in range(2):
        ctx = image_ctx(tmp_path / str(n), SimProvider(), aspect_ratio="16:9")
        result = json.loads(anyio.run(get_worker("image").run, ctx))
        data = (tmp_path / str(n) / result["images"][0]["path"]).read_bytes()
        digests.append(hashlib.sha256(data).hexdigest())
        picture = Image.open(io.BytesIO(data))
        assert picture.size == (768, 432) and "simulated" in picture.info["Comment"]
        assert result["simulated"] is True
    assert digests[0] == digests[1]


def test_a_provider_without_images_says_which_to_use(tmp_path: Path) -> None:
    ctx = image_ctx(tmp_path, ScriptedProvider())
    with pytest.raises(ProviderError, match="cannot generate images") as caught:
        anyio.run(get_worker("image").run, ctx)
    assert not caught.value.retryable and "replicate" in (caught.value.hint or "")


def test_config_problems_name_the_key() -> None:
    plan = {"goal": "g", "tasks": [{"id": "i", "kind": "image", "prompt": "a cat"}]}
    validate_data(plan)
    found = problems("image", {"count": 5, "aspect_ratio": "7:1", "format": "gif", "size": 1})
    assert {p.split(":")[0] for p in found} >= {
        "task 'agg'.config.count", "task 'agg'.config.aspect_ratio",
        "task 'agg'.config.format", "task 'agg'.config",
    }  # fmt: skip
    assert any("needs a prompt" in p for p in found)


PLAN = {
    "goal": "a deck and a brief with a generated picture",
    "defaults": {"retries": 1},
    "tasks": [
        {"id": "pic", "kind": "image", "prompt": "A lighthouse at dawn",
         "config": {"aspect_ratio": "4:3"}},
        {"id": "notes", "kind": "llm", "prompt": "Notes on lighthouses."},
        {"id": "deck", "kind": "slides", "deps": ["pic", "notes"], "config": {"title": "Lights"}},
        {"id": "brief", "kind": "document", "deps": ["notes", "pic"],
         "config": {"formats": ["md", "html", "docx"]}},
    ],
}  # fmt: skip


def test_a_run_on_the_fake_embeds_its_image_in_the_deck_and_the_brief(tmp_path: Path) -> None:
    async def main(fake: FakeReplicate) -> dict[str, Any]:
        store = await Store.open(tmp_path / "s.db")
        provider = fast_provider(fake)
        try:
            options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
            return await runs.execute(store, validate_data(PLAN), provider, options, run_id="r")
        finally:
            await provider.aclose()
            await store.close()

    with FakeReplicate() as fake:
        summary = anyio.run(main, fake)
    assert summary["status"] == "succeeded", summary
    folder = tmp_path / "runs/r"
    deck = Presentation(str(folder / "deck/deck.pptx"))
    pictures = [
        s for sl in deck.slides for s in sl.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE
    ]
    (picture,) = pictures
    assert picture._element.nvPicPr.cNvPr.get("descr") == "A lighthouse at dawn"
    assert picture.left >= 0 and picture.left + picture.width <= deck.slide_width
    brief = docx.Document(str(folder / "brief/brief.docx"))
    (inline,) = brief.inline_shapes
    assert inline._inline.docPr.get("descr") == "A lighthouse at dawn"
    assert "![A lighthouse at dawn](<../pic/pic-1.png>)" in (folder / "brief/brief.md").read_text()
    html = (folder / "brief/brief.html").read_text()
    assert '<img src="data:image/png;base64,' in html and "img-src data:" in html
    assert "Simulated" not in html  # a real provider's run carries no notice
