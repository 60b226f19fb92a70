"""Replicate's error answers and unfinished predictions as :class:`~swarm.errors.ProviderError`s
that say what to fix, with the API token scrubbed from anything the server says.

The ``replicate`` client turns error answers into ``ReplicateError``, which drops the response
headers and so the retry hints; :func:`error_hook` (an httpx response hook) raises
:class:`HttpFailure` instead, with the headers kept.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

import httpx
from pydantic.v1 import ValidationError as ClientValidationError

from swarm.errors import ProviderError, RateLimited
from swarm.providers.replicate_io import Finished
from swarm.providers.retry import is_retryable_status, retry_hint

TOKEN_HELP = (
    "create a token at https://replicate.com/account/api-tokens, then export REPLICATE_API_TOKEN"
)
_GIVEN = re.compile(r"given=([\w-]+)")


class HttpFailure(Exception):
    """An error answer from Replicate, with the headers ``ReplicateError`` would drop."""

    def __init__(self, status: int, headers: Mapping[str, str], detail: str, what: str) -> None:
        super().__init__(f"HTTP {status} from {what}: {detail}")
        self.status = status
        self.headers = headers
        self.detail = detail
        self.what = what


def error_hook(token: str) -> Callable[[httpx.Response], Awaitable[None]]:
    """An httpx response hook raising :class:`HttpFailure` for every error answer (after the
    client's own GET retries), with the token scrubbed from whatever the server said."""

    async def hook(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        await response.aread()
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        text = (str(detail) if detail else response.text[:300]).strip()
        what = f"{response.request.method} {response.request.url.path}"
        raise HttpFailure(response.status_code, response.headers, scrub(text, token), what)

    return hook


def scrub(text: str, token: str) -> str:
    return text.replace(token, "[REPLICATE_API_TOKEN]") if token else text


def http_error(failure: HttpFailure, model: str) -> ProviderError:
    """What an error answer means for the user, and what to do about it."""
    status, detail = failure.status, failure.detail
    says = f": {detail}" if detail else ""
    if status == 429:
        wait_s = retry_hint(failure.headers, detail)
        return RateLimited(f"Replicate rate limit (HTTP 429){says}", retry_after_s=wait_s)
    fixes = {
        401: ("Replicate rejected the API token (HTTP 401)", f"check the token: {TOKEN_HELP}"),
        402: (
            f"Replicate refused to run {model} for billing reasons (HTTP 402){says}",
            "add credit or a payment method at https://replicate.com/account/billing",
        ),
        403: (
            f"the API token may not run {model} (HTTP 403){says}",
            "use a token of an account that can run this model",
        ),
        400: (
            f"Replicate refused the input for {model} (HTTP 400){says}",
            "fix the model parameters (plan defaults.params or the task's params)",
        ),
        422: (
            f"Replicate refused the input for {model} (HTTP 422){says}",
            "fix the model parameters (plan defaults.params or the task's params) to fit "
            "the model's inputs",
        ),
    }
    if status == 404 and failure.what.startswith("POST"):
        fixes[404] = (
            f"Replicate has no model {model!r} (HTTP 404)",
            "check --model or the plan's defaults.model: owner/name, e.g. moonshotai/kimi-k2.6",
        )
    if status in fixes:
        message, hint = fixes[status]
        # A rejected token or an unpaid account fails every call alike: the run stops at once.
        ends_run = status in (401, 402)
        return ProviderError(message, retryable=False, status=status, hint=hint, ends_run=ends_run)
    retryable = is_retryable_status(status)
    return ProviderError(
        f"Replicate answered HTTP {status} to {failure.what}{says}",
        retryable=retryable,
        status=status,
    )


def ended_badly(finished: Finished) -> ProviderError:
    """A prediction that did not succeed; retryable, as a new prediction may well succeed."""
    ref = finished.id
    if finished.status == "failed":
        return ProviderError(
            f"prediction {ref} failed on Replicate: {finished.error}", retryable=True
        )
    if finished.status == "canceled":
        return ProviderError(
            f"prediction {ref} was canceled on Replicate",
            retryable=True,
            hint="something else cancelled it (the web UI or another API client)",
        )
    return ProviderError(
        f"prediction {ref} ended with status {finished.status!r} (Replicate stopped it)",
        retryable=True,
    )


def refused_status(exc: ClientValidationError) -> str:
    """The status value the client refused (``aborted``, which 1.0.7 does not know)."""
    match = _GIVEN.search(str(exc))
    return match.group(1) if match else "unreadable"
