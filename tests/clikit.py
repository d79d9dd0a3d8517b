"""The command line as a user runs it: `python -m chanwatch` in a subprocess, and a small
SQLite database to run it on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from storage import changes
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.observations import PostSeen
from storage.types import utcnow
from tests.support import watched_channel

ROOT = Path(__file__).resolve().parent.parent


def chanwatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m chanwatch ARGS` in `cwd` as a new user runs it: none of this shell's
    Telegram credentials, database or moderators, the checkout on PYTHONPATH."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    base.pop("DATABASE_URL", None)
    base.pop("MODERATOR_IDS", None)
    base["PYTHONPATH"] = str(ROOT)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "chanwatch", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def seed_channel(db: Path, *, tg_id: int = 77, texts: tuple[str, ...] = ("one",)) -> None:
    """A SQLite database with one watched channel @putdomoi (row id 1) whose post 1 went
    through `texts`, one version each."""

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        await upgrade(engine)
        sessions = session_factory(engine)
        channel_id = await watched_channel(sessions, tg_id, access_hash=1, added_by=None)
        now = utcnow()
        for text in texts:
            seen = PostSeen(message_id=1, date=now, text=text)

            async def observe(s: AsyncSession, post: PostSeen = seen) -> None:
                await changes.observe_posts(s, channel_id, [post])

            await transaction(sessions, observe)
        await engine.dispose()

    db.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed())
