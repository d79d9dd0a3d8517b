"""Web preview: parsers on the real t.me/s pages, and channels one process keeps polled.

1. The same extraction (every post's data-post, data-view, date, views and text) with
   selectolax (Lexbor) and lxml, on the five real pages: why chanwatch parses with one.
2. chanwatch's own parser (everything the collector reads): pages/s and CPU ms/page.
3. Requests per channel per 5 minutes, counted with the real collector over HTTP against
   the simulator, and so how many channels the default budget (one request per 2 s) keeps
   polled every 5 minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import lxml.html
from selectolax.lexbor import LexborHTMLParser

from bench.common import headline
from collectors.base import CollectorConfig
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from collectors.webpreview.parse import parse_page
from simulator.mtproto import World
from simulator.webpreview import WebPreviewSimulator
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "tme"
if not FIXTURES.is_dir():
    FIXTURES = Path("/work/shared/fixtures/tme")
DEFAULT_RATE = 0.5  # WEB_PREVIEW_RATE
POLL_EVERY = 300.0
WATCH_LIST = 100  # the target: a modest watch list, kept fresh by one process


def _selectolax(html: str) -> list[tuple[str, ...]]:
    tree = LexborHTMLParser(html)
    out = []
    for msg in tree.css(".tgme_widget_message[data-post]"):
        time_node = msg.css_first(".tgme_widget_message_date time")
        views = msg.css_first(".tgme_widget_message_views")
        text = msg.css_first(".tgme_widget_message_text")
        out.append(
            (
                msg.attributes.get("data-post") or "",
                msg.attributes.get("data-view") or "",
                (time_node.attributes.get("datetime") or "") if time_node else "",
                views.text() if views else "",
                text.text() if text else "",
            )
        )
    return out


_CLS = "contains(concat(' ', normalize-space(@class), ' '), ' {} ')"


def _lxml(html: str) -> list[tuple[str, ...]]:
    tree = lxml.html.fromstring(html)
    out = []
    for msg in tree.xpath(f"//div[{_CLS.format('tgme_widget_message')} and @data-post]"):
        times = msg.xpath(f".//a[{_CLS.format('tgme_widget_message_date')}]/time/@datetime")
        views = msg.xpath(f".//*[{_CLS.format('tgme_widget_message_views')}]")
        texts = msg.xpath(f".//*[{_CLS.format('tgme_widget_message_text')}]")
        out.append(
            (
                msg.get("data-post") or "",
                msg.get("data-view") or "",
                times[0] if times else "",
                views[0].text_content() if views else "",
                texts[0].text_content() if texts else "",
            )
        )
    return out


def _rate(pages: list[str], work: Callable[[str], object], seconds: float) -> tuple[float, float]:
    """(pages per second, CPU ms per page) over at least `seconds` of repeated parsing."""
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        for page in pages:
            work(page)
            n += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return n / wall, cpu * 1000.0 / n


async def _requests_per_channel(quick: bool) -> tuple[float, int]:
    """Requests one channel costs per 5 minutes: a poll each time, a sweep every 10."""
    channels = 10 if quick else 40
    world = World()
    for i in range(channels):
        name = f"channel{i:03d}"
        world.create_channel(username=name, title=f"Channel {i}", participants=10_000 + i)
        for j in range(30):
            world.post(name, f"post {j}", views=100)
    sim = WebPreviewSimulator(world)
    await sim.start()
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    await upgrade(engine)
    sessions = session_factory(engine)
    cycles = 4
    try:
        async with aiohttp.ClientSession() as http:
            collector = WebCollector(
                Fetcher(http, sim.base_url, HostBudget(1000.0)), sessions, CollectorConfig()
            )
            ids = []
            for i in range(channels):
                ch, _ = await collector.watch(f"@channel{i:03d}", None)
                assert ch is not None
                ids.append(ch.id)
                await collector.poll(ch.id)  # the first look
            sim.requests.clear()
            for cycle in range(cycles):
                for i, cid in enumerate(ids):
                    # A busy channel: 3 new posts and one deletion every 5 minutes.
                    name = f"channel{i:03d}"
                    for j in range(3):
                        world.post(name, f"cycle {cycle} post {j}")
                    world.delete(name, [world.channel(name).top_message_id - 5])
                    await collector.poll(cid)
                    if cycle % 2 == 0:  # RECONCILE_SECONDS=600 against a 300 s poll
                        await collector.reconcile(cid)
    finally:
        await sim.stop()
        await engine.dispose()
    return len(sim.requests) / (channels * cycles), len(sim.requests)


def main(quick: bool = False) -> None:
    pages = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.html"))]
    assert len(pages) == 5, f"expected the five real pages in {FIXTURES}"
    seconds = 1.0 if quick else 5.0
    assert [len(x) for x in map(_selectolax, pages)] == [len(x) for x in map(_lxml, pages)]
    sx_rate, sx_cpu = _rate(pages, _selectolax, seconds)
    lx_rate, lx_cpu = _rate(pages, _lxml, seconds)
    print(f"# same extraction: selectolax {sx_rate:.0f} pages/s {sx_cpu:.2f} ms CPU/page")
    print(f"# same extraction: lxml       {lx_rate:.0f} pages/s {lx_cpu:.2f} ms CPU/page")
    headline("webpreview_selectolax_vs_lxml", sx_rate / lx_rate, "x", sx_rate / lx_rate, "lxml 1x")
    rate, cpu = _rate(pages, parse_page, seconds)
    headline("webpreview_parse", rate, "pages/s", rate / DEFAULT_RATE, f"{DEFAULT_RATE} pages/s")
    headline("webpreview_cpu", cpu, "ms/page", (1000.0 / DEFAULT_RATE) / cpu, "2000 ms/page")
    per_channel, total = asyncio.run(_requests_per_channel(quick))
    channels = DEFAULT_RATE * POLL_EVERY / per_channel
    print(f"# {per_channel:.2f} requests per channel per 5 min ({total} counted)")
    headline(
        "webpreview_channels",
        channels,
        "channels/5min",
        channels / WATCH_LIST,
        f"{WATCH_LIST} channels",
    )


if __name__ == "__main__":
    main()
