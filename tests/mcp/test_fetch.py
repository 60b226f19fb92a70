"""The fetch tool against a local site: readable text, redirects re-checked, the host lists,
private addresses refused by default, size and content-type caps."""

from __future__ import annotations

import pytest

from swarm.errors import ToolCallError
from swarm.plan import FetchSettings
from workers.fetch_tool import Fetcher, address_refused, host_allowed
from workers.html_text import html_to_text

pytestmark = pytest.mark.anyio
LOCAL = FetchSettings(allow_private=True)


async def test_html_page_becomes_readable_text(site: str) -> None:
    page = await Fetcher(LOCAL).fetch(f"{site}/page.html")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.text.startswith("# Task groups")
    assert "# Structured concurrency" in page.text and "- cancel scopes" in page.text
    assert "anyio (https://anyio.dev)" in page.text
    assert "alert" not in page.text and "color" not in page.text


async def test_redirect_is_followed_and_bounded(site: str) -> None:
    page = await Fetcher(LOCAL).fetch(f"{site}/hop")
    assert page.url.endswith("/page.html")
    with pytest.raises(ToolCallError, match="more than 2 redirects"):
        await Fetcher(FetchSettings(allow_private=True, max_redirects=2)).fetch(f"{site}/loop")


async def test_redirect_target_is_checked_again(site: str) -> None:
    settings = FetchSettings(allow_private=True, deny_hosts=["10.*"])
    with pytest.raises(ToolCallError, match="deny_hosts"):
        await Fetcher(settings).fetch(f"{site}/away")


async def test_loopback_is_refused_by_default(site: str) -> None:
    with pytest.raises(ToolCallError, match="private, loopback") as caught:
        await Fetcher(FetchSettings()).fetch(f"{site}/plain")
    assert not caught.value.retryable


async def test_size_and_type_caps(site: str) -> None:
    page = await Fetcher(FetchSettings(allow_private=True, max_bytes=1024)).fetch(f"{site}/big")
    assert page.truncated and len(page.text) == 1024
    with pytest.raises(ToolCallError, match="not text"):
        await Fetcher(LOCAL).fetch(f"{site}/binary")
    with pytest.raises(ToolCallError, match="only http and https"):
        await Fetcher(LOCAL).fetch("file:///etc/passwd")


def test_host_lists_and_address_ranges() -> None:
    allow = FetchSettings(allow_hosts=["*.python.org"], deny_hosts=["bad.python.org"])
    assert host_allowed("docs.python.org", allow) is None
    assert "deny_hosts" in (host_allowed("BAD.python.org.", allow) or "")
    assert "allow_hosts" in (host_allowed("example.com", allow) or "")
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:192.168.1.1"):
        assert address_refused(address), address
    assert not address_refused("93.184.216.34")


def test_html_to_text_keeps_headings_and_lists() -> None:
    text = html_to_text("<h2>A</h2><p>one &amp; two</p><ol><li>x</li></ol>")
    assert text == "## A\n\none & two\n\n- x"
