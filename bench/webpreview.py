"""Web preview: parsers on the real t.me/s pages, and channels one process keeps polled.

1. The same extraction (every post's data-post, data-view, date, views and text) with
   selectolax (Lexbor) and lxml, on the five real pages: why chanwatch parses with one.
2. chanwatch's own parser (everything the collector reads): pages/s and CPU ms/page.
3. Requests per channel per 5 minutes, counted on the real collector's passes over HTTP
   against the simulator, and so how many channels the default budget (one request per
   2 s) keeps polled every 5 minutes: a busy channel (3 posts and a deletion every 5
   minutes) and a typical one (3 posts a day, a deletion a week).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import lxml.html
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import headline
from collectors.base import CollectorConfig
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from collectors.webpreview.parse import parse_page
from simulator.mtproto import World
from simulator.webpreview import WebPreviewSimulator
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.models import Channel
from storage.types import utcnow

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


@dataclass
class Cost:
    """Requests per channel per 5-minute poll cycle, by kind."""

    pages: float  # /s/<name> and ?before= pages (polls and sweeps)
    embeds: float  # deletion confirmations
    cycles: int
    total: int

    @property
    def per_cycle(self) -> float:
        return self.pages + self.embeds


Step = Callable[[World, str, int], None]


def _busy(world: World, name: str, cycle: int) -> None:
    """A busy channel: 3 new posts and one deletion every 5 minutes."""
    for j in range(3):
        world.post(name, f"cycle {cycle} post {j}")
    world.delete(name, [world.channel(name).top_message_id - 5])


def _typical(world: World, name: str, cycle: int) -> None:
    """A typical channel over an hour: one post in it (its few a day fall into some
    hour), no deletion (a deletion a week is costed apart: see `_typical_cost`)."""
    if cycle == 4:
        world.post(name, f"cycle {cycle} post")


async def _requests_per_channel(quick: bool, step: Step, cycles: int, spread: float) -> Cost:
    """Requests one channel costs per 5 minutes, counted on the real collector's passes
    (`run_once`, its jobs as it schedules them) over HTTP against the simulator.

    Five minutes pass between passes (the schedule's clocks are moved on): every poll is
    due, a sweep (RECONCILE_SECONDS=600) every other pass. `cycles` passes are counted,
    after one that is not. The channels have 30 posts, `spread` hours apart."""
    channels = 10 if quick else 40
    world = World()
    start = world.now() - timedelta(hours=spread * 30)
    for i in range(channels):
        name = f"channel{i:03d}"
        world.create_channel(username=name, title=f"Channel {i}", participants=10_000 + i)
        for j in range(30):
            world.post(name, f"post {j}", views=100, date=start + timedelta(hours=spread * j))
    sim = WebPreviewSimulator(world)
    sim.latency = 0.05  # a page is not answered at once (t.me's take a few hundred ms)
    await sim.start()
    # A file, as in production: the pass runs its jobs at once, on connections of their own.
    folder = tempfile.TemporaryDirectory()
    engine = create_engine(f"sqlite+aiosqlite:///{folder.name}/bench.db")
    await upgrade(engine)
    sessions = session_factory(engine)
    try:
        async with aiohttp.ClientSession() as http:
            collector = WebCollector(
                Fetcher(http, sim.base_url, HostBudget(1000.0)), sessions, CollectorConfig()
            )
            ids = []
            for i in range(channels):
                ch, _ = await collector.watch(f"@channel{i:03d}", None)  # and its first look
                assert ch is not None
                ids.append(ch.id)
            # Cycle 0 sweeps and is not counted: from then on every deletion counted is
            # confirmed within the count (the last cycle sweeps), as in a long run.
            for cycle in range(cycles + 1):
                if cycle == 1:
                    sim.requests.clear()
                for i in range(channels):
                    step(world, f"channel{i:03d}", cycle)

                async def five_minutes_later(s: AsyncSession) -> None:
                    await s.execute(update(Channel).values(next_poll_at=utcnow()))

                await transaction(sessions, five_minutes_later)
                for cid, (at, page) in collector._first_page.items():
                    collector._first_page[cid] = (at - POLL_EVERY, page)
                for cid in ids:
                    sweep = cycle % 2 == 0
                    collector._reconciled[cid] = -1e18 if sweep else time.monotonic()
                await collector.run_once()
    finally:
        await sim.stop()
        await engine.dispose()
        folder.cleanup()
    embeds = sum(1 for r in sim.requests if "embed=1" in r)
    n = channels * cycles
    return Cost((len(sim.requests) - embeds) / n, embeds / n, cycles, len(sim.requests))


WEEK_CYCLES = 7 * 24 * 12  # 5-minute cycles in a week


async def _typical_cost(quick: bool) -> Cost:
    """An hour of a typical channel (3 posts a day), and one deletion a week: the
    confirmation its sweep makes, one embed per deletion, spread over the week."""
    hour = await _requests_per_channel(quick, _typical, 12, spread=8.0)
    return Cost(hour.pages, 1 / WEEK_CYCLES, hour.cycles, hour.total)


def _line(name: str, cost: Cost) -> None:
    channels = DEFAULT_RATE * POLL_EVERY / cost.per_cycle
    print(
        f"# {name}: {cost.per_cycle:.3f} requests per channel per 5 min ({cost.pages:.3f} pages, "
        f"{cost.embeds:.4f} confirmations; {cost.total} counted over {cost.cycles} cycles)"
    )
    headline(name, channels, "channels/5min", channels / WATCH_LIST, f"{WATCH_LIST} channels")


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
    # A busy channel: its 30 posts within the hour, 3 new and a deletion every 5 minutes.
    _line("webpreview_channels", asyncio.run(_requests_per_channel(quick, _busy, 4, 0.02)))
    _line("webpreview_channels_typical", asyncio.run(_typical_cost(quick)))


if __name__ == "__main__":
    main()
