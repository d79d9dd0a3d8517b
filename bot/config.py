"""What the bot's handlers need of the installation, and nothing more.

The composition root (`chanwatch.app.bot_config`) fills `BotConfig` from the settings;
handlers receive it as ``config`` and the digest service as ``digests`` (`Digests`), so a
handler's signature says what it can reach.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BotConfig:
    tz: ZoneInfo  # times in replies
    moderator_ids: frozenset[int]  # moderators by configuration (others are granted in the bot)
    media_dir: Path  # archived media, for proof packs
    tsa_ca_certs: tuple[Path, ...] = ()  # extra TSA certificates a pack carries
    collector_lease_seconds: float = 60.0  # a collector is alive within one lease


class Digests(Protocol):
    """The digest service as the handlers use it."""

    async def run_now(self, opened: Callable[[], Awaitable[None]] | None = None) -> int:
        """/digest_run: the due period for every reader who lacks it; readers queued.
        ``opened`` is awaited once the run is recorded (a crash after it resumes)."""
        ...

    async def digest_now(self, subscriber_id: int) -> bool:
        """/digest: one reader's last 7 days; False when there is nothing to send."""
        ...
