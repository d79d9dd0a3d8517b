"""RFC 3161 timestamps for checkpoints, from the authorities in TSA_URLS.

The job runs beside collection and never holds it up: a TSA that is down leaves the
checkpoint untimestamped, to be tried again with doubling waits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiohttp
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    decode_timestamp_response,
)
from sqlalchemy.ext.asyncio import AsyncSession

from chanwatch.proofcheck import tsa_message
from storage import checkpoints
from storage.db import SessionMaker, transaction
from storage.models import Checkpoint
from storage.types import utcnow

log = logging.getLogger(__name__)


class TsaError(Exception):
    """A TSA did not give a usable token."""


async def request_token(
    http: aiohttp.ClientSession, url: str, message: bytes, wait_s: float = 20.0
) -> bytes:
    """A TimeStampResp (DER) from `url` for `message`, checked to cover it."""
    request = TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256).build()
    try:
        async with http.post(
            url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=aiohttp.ClientTimeout(total=wait_s),
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise TsaError(f"{url} answered HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TsaError(f"{url} unreachable ({exc.__class__.__name__}: {exc})") from None
    try:
        response = decode_timestamp_response(body)
    except ValueError as exc:
        raise TsaError(f"{url} sent no RFC 3161 response ({exc})") from None
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TsaError(f"{url} refused: status {response.status}")
    if response.tst_info.message_imprint.message != request.message_imprint.message:
        raise TsaError(f"{url} timestamped another message")
    if request.nonce is not None and response.tst_info.nonce != request.nonce:
        raise TsaError(f"{url} answered with another nonce")
    return body


class Timestamper:
    """Asks every TSA for a token for each checkpoint that lacks one."""

    def __init__(
        self,
        sessions: SessionMaker,
        urls: Sequence[str],
        *,
        backoff: timedelta = timedelta(minutes=1),
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.sessions = sessions
        self.urls = list(urls)
        self.backoff = backoff
        self._http = http

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass; the number of tokens got."""
        if not self.urls:
            return 0
        now = now or utcnow()
        async with self.sessions() as s:
            due = await checkpoints.needing_timestamp(s, now)
        got = 0
        http = self._http or aiohttp.ClientSession()
        try:
            for cp in due:
                have = {token["url"] for token in cp.tsa_tokens}
                tokens: list[dict[str, str]] = []
                errors: list[str] = []
                for url in self.urls:
                    if url in have:
                        continue
                    try:
                        der = await request_token(
                            http, url, tsa_message(cp.statement, cp.signature)
                        )
                    except TsaError as exc:
                        errors.append(str(exc))
                        continue
                    tokens.append(
                        {"url": url, "token": checkpoints.b64(der), "at": now.isoformat()}
                    )
                got += len(tokens)
                error = "; ".join(errors) or None
                if error:
                    log.warning("checkpoint %s untimestamped: %s", cp.day, error)
                await self._record(cp.id, tokens, error, now)
        finally:
            if self._http is None:
                await http.close()
        return got

    async def _record(
        self, cp_id: int, tokens: list[dict[str, str]], error: str | None, now: datetime
    ) -> None:
        async def save(s: AsyncSession) -> None:
            # Checkpoints are append-only, so the row read a moment ago is still there.
            row = await s.get_one(Checkpoint, cp_id)
            checkpoints.record_tokens(row, tokens, error, now, self.backoff)

        await transaction(self.sessions, save)
