"""The agent's ``fetch`` tool: GET one URL and return its readable text, within the plan's
``fetch`` settings.

Every hop is checked before it is requested: http(s) only, the host against the plan's deny and
allow globs, and every address the host resolves to against the private, loopback, link-local
and reserved ranges (refused unless ``allow_private``). Redirects are followed by hand, at most
``max_redirects``, each target checked again. The body is read up to ``max_bytes`` and the
whole fetch is bounded by ``timeout_s``; only text types are returned (HTML as text with
Markdown headings, see :mod:`workers.html_text`). A host that resolves differently between the
check and the connection (DNS rebinding) is not defended against beyond the check itself.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from swarm.errors import ToolCallError
from swarm.plan import FetchSettings
from workers.html_text import html_to_text

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
REDIRECTS = {301, 302, 303, 307, 308}
FETCH_ARGS: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {"type": "string", "minLength": 8, "maxLength": 2048}},
    "required": ["url"],
    "additionalProperties": False,
}
FETCH_DESCRIPTION = (
    "GET an http(s) URL and return its readable text (HTML converted to text); only the hosts "
    "the plan allows can be fetched"
)


def _refuse(message: str) -> ToolCallError:
    return ToolCallError(message, retryable=False)


def host_allowed(host: str, settings: FetchSettings) -> str | None:
    """Why ``host`` is refused by the plan's host lists, or None."""
    host = host.lower().rstrip(".")
    if any(fnmatch.fnmatchcase(host, g.lower()) for g in settings.deny_hosts):
        return f"the host {host} is on the plan's fetch.deny_hosts list"
    if settings.allow_hosts and not any(
        fnmatch.fnmatchcase(host, g.lower()) for g in settings.allow_hosts
    ):
        return f"the host {host} is not on the plan's fetch.allow_hosts list"
    return None


def address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_url(url: str, settings: FetchSettings) -> None:
    """Refuse a URL the plan does not allow (scheme, host lists, private addresses)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(f"only http and https URLs can be fetched, not {url[:200]!r}")
    if parts.username or parts.password:
        raise _refuse("URLs with credentials in them are not fetched")
    why = host_allowed(parts.hostname, settings)
    if why:
        raise _refuse(why)
    if settings.allow_private:
        return
    try:
        infos = await anyio.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolCallError(f"cannot resolve {parts.hostname}: {exc}", retryable=True) from None
    if any(address_refused(str(info[4][0])) for info in infos):
        raise _refuse(
            f"{parts.hostname} resolves to a private, loopback or reserved address; those are "
            "refused unless the plan sets fetch.allow_private"
        )


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    status: int
    content_type: str
    text: str
    truncated: bool

    def observation(self) -> str:
        cut = " (truncated at the size limit)" if self.truncated else ""
        head = f"url: {self.url}\nstatus: {self.status}\ncontent-type: {self.content_type}{cut}"
        return f"{head}\n\n{self.text}"


class Fetcher:
    """GETs pages within the plan's ``fetch`` settings; ``transport`` is for tests."""

    def __init__(
        self, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport

    async def fetch(self, url: str) -> Page:
        s = self.settings
        try:
            with anyio.fail_after(s.timeout_s):
                async with httpx.AsyncClient(
                    transport=self.transport, follow_redirects=False, timeout=s.timeout_s
                ) as client:
                    return await self._follow(client, url)
        except TimeoutError:
            raise ToolCallError(
                f"fetching {url[:200]} took over {s.timeout_s:g}s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ToolCallError(f"fetching {url[:200]} failed: {exc}", retryable=True) from None

    async def _follow(self, client: httpx.AsyncClient, url: str) -> Page:
        for _ in range(self.settings.max_redirects + 1):
            await check_url(url, self.settings)
            async with client.stream("GET", url, headers={"accept": "text/*,*/*;q=0.5"}) as r:
                if r.status_code in REDIRECTS and "location" in r.headers:
                    url = urljoin(url, r.headers["location"])
                    continue
                return await self._read(r, url)
        raise _refuse(f"more than {self.settings.max_redirects} redirects")

    async def _read(self, response: httpx.Response, url: str) -> Page:
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not ctype.startswith(TEXT_TYPES):
            raise _refuse(f"{url[:200]} is {ctype or 'of no content type'}, not text")
        data, truncated = bytearray(), False
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > self.settings.max_bytes:
                del data[self.settings.max_bytes :]
                truncated = True
                break
        text = data.decode(response.encoding or "utf-8", errors="replace")
        if ctype in ("text/html", "application/xhtml+xml"):
            text = html_to_text(text)
        return Page(url, response.status_code, ctype, text, truncated)
