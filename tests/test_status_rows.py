"""Two collector processes on one database report their downloads and web preview apart."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from chanwatch.telegram import CLIENT_OPTIONS
from collectors.downloads import DownloadConfig, Downloader
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from simulator.mtproto import World, make_simulated_client
from simulator.webpreview import WebPreviewSimulator
from storage import status
from storage.db import SessionMaker, transaction
from storage.mediastore import MediaStore
from tests.support import QUICK_COLLECTOR


async def test_each_process_keeps_its_own_downloads_and_web_preview_row(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    async def before_the_upgrade(s: AsyncSession) -> None:
        await status.put(s, "webpreview", {"requests": 7})
        await status.put(s, "downloads", {"full": 0})

    await transaction(sessions, before_the_upgrade)
    world = World()
    world.create_channel(username="alpha_ch", title="Alpha", participants=10)
    sim = WebPreviewSimulator(world)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            webs = [
                WebCollector(
                    Fetcher(http, sim.base_url, HostBudget(1000.0)),
                    sessions,
                    QUICK_COLLECTOR,
                    owner=owner,
                )
                for owner in ("acc1", "acc2")
            ]
            await webs[0].fetcher.page("alpha_ch")  # only the first process asks t.me
            for web in webs:
                await web.run_once()
    finally:
        await sim.stop()
    client = make_simulated_client(world, **CLIENT_OPTIONS)  # type: ignore[arg-type]
    # The first process's media store is full, the second's is not.
    for owner, cap in (("acc1", 0), ("acc2", 1 << 30)):
        store = MediaStore(tmp_path / owner)
        store.prepare()
        config = DownloadConfig(max_total_bytes=cap)
        await Downloader(client, sessions, store, config, owner=owner)._report()

    async with sessions() as s:
        web_rows = {
            o: (r.data or {}).get("requests") for o, r in await status.reports(s, "webpreview")
        }
        full = {o: (r.data or {}).get("full") for o, r in await status.reports(s, "downloads")}
        shared = [await status.get(s, "webpreview"), await status.get(s, "downloads")]
    assert web_rows == {"acc1": 1, "acc2": 0}
    assert full == {"acc1": 1, "acc2": 0}  # the full store is not hidden by the other's report
    assert shared == [None, None]  # the rows shared before are gone
