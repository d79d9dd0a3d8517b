"""A sender in its own process, for tests that kill it with SIGKILL mid fan-out.

Usage: python -m tests.send_proc DATABASE_URL BOT_API_BASE_URL TOKEN LEASE_SECONDS
"""

from __future__ import annotations

import asyncio
import sys

from bot.delivery import Sender
from chanwatch.telegram import build_bot
from storage.db import create_engine, session_factory


async def main(db_url: str, base_url: str, token: str, lease: float) -> None:
    engine = create_engine(db_url)
    bot = build_bot(token, base_url)
    sender = Sender(bot, session_factory(engine), lease=lease, batch=50)
    # The most messages this sender may repeat if killed: the test holds it to that.
    print(f"ready repeat_bound={sender.repeat_bound}", flush=True)
    await sender.run()  # claiming ahead of the sends, as `chanwatch run` does


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
