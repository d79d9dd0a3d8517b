"""Polite HTTP for the web preview: a per-host budget, backoff, a size cap, honest pages only.

Every way a page can be bad (refused, slow, huge, cut short, not UTF-8, a redirect loop)
ends in one `FetchError` with a one-line reason: the collector logs it and tries later,
and nothing it did not see is ever read as a change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from collectors.flood import Deferred
from collectors.webpreview.parse import EmbedKind, Page, parse_embed, parse_page

log = logging.getLogger(__name__)

USER_AGENT = "chanwatch/0.1 (public channel monitor; web preview collector)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class FetchError(Exception):
    """A page we could not read; the message is one line for the log."""


@dataclass
class HostBudget:
    """Requests to one host are spaced by 1/rate seconds, more after errors (doubling)."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    max_penalty: float = 64.0
    # A longer wait is not slept through in a job: the job is deferred to a later pass.
    max_sleep: float = 30.0
    _next: dict[str, float] = field(default_factory=dict)
    _penalty: dict[str, float] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    requests: int = 0

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    async def acquire(self, host: str) -> None:
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:
            wait = self._next.get(host, 0.0) - self.clock()
            if wait > self.max_sleep:
                raise Deferred(f"web preview {host}", wait)
            if wait > 0:
                await self.sleep(wait)
            self._next[host] = self.clock() + self.interval * self._penalty.get(host, 1.0)
            self.requests += 1

    def penalize(self, host: str, retry_after: float | None = None) -> float:
        """After a 429, 5xx or timeout: double the spacing; obey Retry-After if longer."""
        penalty = min(self._penalty.get(host, 1.0) * 2, self.max_penalty)
        self._penalty[host] = penalty
        wait = max(self.interval * penalty, retry_after or 0.0)
        self._next[host] = max(self._next.get(host, 0.0), self.clock() + wait)
        return wait

    def reward(self, host: str) -> None:
        self._penalty.pop(host, None)

    def backoff(self, host: str) -> float:
        """Seconds until this host may be asked again."""
        return max(0.0, self._next.get(host, 0.0) - self.clock())


class Fetcher:
    """GET pages of WEB_PREVIEW_BASE_URL within the budget."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        budget: HostBudget,
        *,
        max_bytes: int = 2_000_000,
        timeout: float = 20.0,
        attempts: int = 3,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.budget = budget
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.attempts = attempts

    async def page(self, name: str, before: int | None = None) -> Page:
        params = {"before": str(before)} if before else None
        return parse_page(await self.get(f"/s/{name}", params))

    async def embed(self, name: str, message_id: int) -> EmbedKind:
        return parse_embed(await self.get(f"/{name}/{message_id}", {"embed": "1"}))

    async def get(self, path: str, params: dict[str, str] | None = None) -> str:
        last = "no attempt"
        for _ in range(self.attempts):
            await self.budget.acquire(self.host)
            try:
                return await self._once(path, params)
            except _Retry as exc:
                wait = self.budget.penalize(self.host, exc.retry_after)
                last = f"{exc} (next try in {wait:.0f}s)"
                log.info("web preview %s: %s", path, last)
        raise FetchError(f"{path}: {last}")

    async def _once(self, path: str, params: dict[str, str] | None) -> str:
        url = self.base_url + path
        try:
            async with self.session.get(
                url,
                params=params,
                timeout=self.timeout,
                headers={"User-Agent": USER_AGENT, "Accept-Language": "en"},
                max_redirects=5,
            ) as resp:
                if resp.status in RETRY_STATUSES:
                    raise _Retry(f"HTTP {resp.status}", _retry_after(resp))
                if resp.status != 200:
                    raise FetchError(f"{path}: HTTP {resp.status}")
                body = await self._read(resp, path)
        except aiohttp.TooManyRedirects:
            raise FetchError(f"{path}: redirect loop") from None
        except TimeoutError:
            raise _Retry("timed out", None) from None
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(f"{path}: page cut short ({exc})") from None
        except aiohttp.ClientError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}", None) from None
        self.budget.reward(self.host)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise FetchError(f"{path}: not UTF-8") from None
        # Telegram's pages end with </html> (and a comment); without it the page was cut.
        if "</html>" not in text[-4096:].lower():
            raise FetchError(f"{path}: {'empty' if not text.strip() else 'truncated'} page")
        return text

    async def _read(self, resp: aiohttp.ClientResponse, path: str) -> bytes:
        if resp.content_length is not None and resp.content_length > self.max_bytes:
            raise FetchError(f"{path}: {resp.content_length} bytes is over the size cap")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"{path}: over the size cap of {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
