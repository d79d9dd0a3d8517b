"""The observation log's price and a proof pack's size: ingest with the log vs without, and
building and verifying the pack of a channel with 10,000 posts and 200 MB of media.

"Without the log" is the same change detection with the log's append replaced by a no-op,
measured in alternating rounds so both see the same machine.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import database, headline, kinds_available
from chanwatch import proofcheck
from chanwatch.keys import load_or_create
from chanwatch.pack import build
from storage import changes, channels, ledger
from storage.db import SessionMaker, create_engine, session_factory, transaction
from storage.mediastore import MediaStore
from storage.models import Channel
from storage.observations import PostSeen
from storage.types import utcnow

BATCH = 50  # posts per poll transaction, about what a busy channel's poll brings


async def _channel(sessions: SessionMaker, tg_id: int) -> int:
    async def work(s):  # type: ignore[no-untyped-def]
        ch, _ = await channels.add_or_rewatch(
            s, tg_id=tg_id, access_hash=1, username=f"c{tg_id}", title=f"Канал {tg_id}",
            handle=f"@c{tg_id}", added_by=None,
        )  # fmt: skip
        return ch.id

    return await transaction(sessions, work)


def _batch(start: int, stop: int) -> list[PostSeen]:
    t0 = utcnow()
    return [
        PostSeen(message_id=i, date=t0 + timedelta(seconds=i), text=f"Пост {i} о мобилизации")
        for i in range(start, stop)
    ]


async def _ingest(sessions: SessionMaker, cid: int, start: int, count: int) -> float:
    """Posts per second, archived in poll-sized transactions."""
    began = time.perf_counter()
    for first in range(start, start + count, BATCH):
        batch = _batch(first, min(first + BATCH, start + count))
        await transaction(sessions, lambda s, b=batch: changes.observe_posts(s, cid, b))
    return count / (time.perf_counter() - began)


async def ingest(kind: str, posts: int) -> None:
    """Transactions with and without the log take turns, so both meet the same machine
    (other processes share its two cores); each side's time is summed."""
    async with database(kind) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        cid = await _channel(sessions, 1)
        real = ledger.append

        async def no_log(*args: object, **kw: object) -> list[int]:
            return []

        spent = {"with": 0.0, "without": 0.0}
        await _ingest(sessions, cid, 1, 10 * BATCH)  # warm both roads up, not counted
        ledger.append = no_log  # type: ignore[assignment]
        await _ingest(sessions, cid, 1 + 10 * BATCH, 10 * BATCH)
        first = 1 + 20 * BATCH
        try:
            for n in range(2 * posts // BATCH):
                mode = "with" if n % 2 else "without"
                ledger.append = real if mode == "with" else no_log  # type: ignore[assignment]
                batch = _batch(first + n * BATCH, first + (n + 1) * BATCH)
                began = time.perf_counter()
                await transaction(sessions, lambda s, b=batch: changes.observe_posts(s, cid, b))
                spent[mode] += time.perf_counter() - began
        finally:
            ledger.append = real  # type: ignore[assignment]
        await engine.dispose()
    with_log, without = posts / spent["with"], posts / spent["without"]
    share = with_log / without
    print(
        f"# {kind}: ingest {with_log:.0f} posts/s with the log, {without:.0f} without "
        f"({posts} posts each, batches of {BATCH}, taking turns): {share:.3f} of the speed"
    )
    headline(f"archive.ingest.{kind}", with_log, "posts/s", share / 0.9, "0.9 of without the log")


async def pack(kind: str, posts: int, media_mb: int) -> None:
    async with database(kind) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        cid = await _channel(sessions, 7)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            media_dir = folder / "media"
            await _ingest(sessions, cid, 1, posts)
            files = max(media_mb // 2, 1)
            sizes = media_mb * 1024 * 1024 // files

            async def log_media(s):  # type: ignore[no-untyped-def]
                ch = await s.get(Channel, cid)
                for i in range(files):
                    data = os.urandom(sizes)
                    digest = proofcheck.sha256(data).hex()
                    path = MediaStore(media_dir).path(digest)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    await ledger.note_media(s, ch, 1 + i, digest, len(data), "video/mp4")

            await transaction(sessions, log_media)
            signer = load_or_create(folder / "keys" / "key.pem")
            began = time.perf_counter()
            result = await build(sessions, "@c7", signer, folder / "p.zip", media_dir=media_dir)
            built = time.perf_counter() - began
            began = time.perf_counter()
            report = await asyncio.to_thread(proofcheck.verify, result.path)
            checked = time.perf_counter() - began
            assert report.ok, report.problems
        await engine.dispose()
    print(
        f"# {kind}: pack of {posts} posts and {media_mb} MB media ({result.size / 1e6:.0f} MB): "
        f"built in {built:.1f} s, verified in {checked:.1f} s"
    )
    headline(f"archive.pack_build.{kind}", built, "s", 60.0 / max(built, 1e-9), "60 s target")
    headline(f"archive.pack_verify.{kind}", checked, "s", 60.0 / max(checked, 1e-9), "60 s target")


def main(quick: bool = False) -> None:
    async def run() -> None:
        for kind in await kinds_available():
            await ingest(kind, 1000 if quick else 5000)
            await pack(kind, 1000 if quick else 10_000, 20 if quick else 200)

    asyncio.run(run())
