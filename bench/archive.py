"""The observation log's price and a proof pack's size: ingest with the log vs without, and
building and verifying the pack of a channel with 10,000 posts and 200 MB of media.

"Without the log" is the same change detection with the log's append replaced by a no-op,
measured in alternating rounds so both see the same machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import zipfile
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
from tests import chromium

BATCH = 50  # posts per poll transaction, about what a busy channel's poll brings
# "Responsive": the page is read within a second of opening it, and a jump to its end is
# drawn within RAIL's 100 ms response budget.
PAGE_LOAD_TARGET_MS = 1000.0
PAGE_JUMP_TARGET_MS = 100.0
# Only this benchmark's copy of the page runs a script: it lets inline scripts through the
# page's policy and, once the page has loaded, times a jump to its last post.
_TIMING = """<script>addEventListener("load", () => {
  const nav = performance.getEntriesByType("navigation")[0];
  const t = performance.now();
  scrollTo(0, document.body.scrollHeight);
  document.body.getBoundingClientRect();
  const last = document.querySelectorAll("article");
  last[last.length - 1].getBoundingClientRect();
  const out = document.createElement("pre");
  out.id = "bench";
  out.textContent = JSON.stringify({load: nav.loadEventStart, jump: performance.now() - t,
                                    posts: last.length});
  document.body.append(out);
});</script>"""


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
            page = await _page_timing(result.path, folder)
        await engine.dispose()
    print(
        f"# {kind}: pack of {posts} posts and {media_mb} MB media ({result.size / 1e6:.0f} MB): "
        f"built in {built:.1f} s, verified in {checked:.1f} s"
    )
    headline(f"archive.pack_build.{kind}", built, "s", 60.0 / max(built, 1e-9), "60 s target")
    headline(f"archive.pack_verify.{kind}", checked, "s", 60.0 / max(checked, 1e-9), "60 s target")
    if page is None:
        print("# index.html not timed: Debian's chromium is not installed")
        return
    print(f"# {kind}: index.html of {page['posts']} posts in headless Chromium")
    load, jump = page["load"], page["jump"]
    headline(f"archive.page_load.{kind}", load, "ms", PAGE_LOAD_TARGET_MS / load, "1000 ms target")
    headline(f"archive.page_jump.{kind}", jump, "ms", PAGE_JUMP_TARGET_MS / jump, "100 ms target")


async def _page_timing(pack: Path, folder: Path) -> dict[str, float] | None:
    """The pack's index.html opened in headless Chromium: ms to its load event, ms to draw
    a jump to the last post, and how many posts it shows."""
    if chromium.CHROMIUM is None:
        return None
    unpacked = folder / "unpacked"
    with zipfile.ZipFile(pack) as zf:
        zf.extractall(unpacked)
    html = (unpacked / "index.html").read_text(encoding="utf-8")
    html = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    timed = unpacked / "timed.html"
    timed.write_text(html.replace("</body>", _TIMING + "</body>"), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        *chromium.command(folder / "profile", "--dump-dom"), timed.as_uri(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    dom, _ = await asyncio.wait_for(proc.communicate(), 300)
    found = dom.decode().split('<pre id="bench">', 1)
    if len(found) < 2:
        raise RuntimeError("the timed page did not report: did its script run?")
    timing: dict[str, float] = json.loads(found[1].split("</pre>", 1)[0])
    return timing


def main(quick: bool = False) -> None:
    async def run() -> None:
        for kind in await kinds_available():
            await ingest(kind, 1000 if quick else 5000)
            await pack(kind, 1000 if quick else 10_000, 20 if quick else 200)

    asyncio.run(run())
