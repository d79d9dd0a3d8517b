"""`chanwatch demo`: the real application against the simulated Telegram, no credentials.

It plays a compressed week of a movement channel — posts, an edit, a deleted post,
Telegram marking the channel FAKE, a restriction on one platform, a rename and a
subscriber surge — while a simulated subscriber and a moderator use the bot, and
prints what each of them receives as it arrives. The database is left behind for
`chanwatch export`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from bot.textsplit import visible_text
from chanwatch.app import build_app, start, stop
from chanwatch.settings import Settings
from chanwatch.telegram import CLIENT_OPTIONS
from simulator.botapi import BotAPISimulator, SentMessage
from simulator.mtproto import ManualClock, World, make_simulated_client
from simulator.webpreview import WebPreviewSimulator

MODERATOR = 1001
SUBSCRIBER = 2002
CHANNEL = "putdomoi"
DEMO_DB = Path("data/demo.db")
WEEK_DAYS = 7


class DemoError(Exception):
    """A step of the demo did not happen in time."""


class Screen:
    """Prints what each simulated person receives, as it arrives."""

    def __init__(self, sim: BotAPISimulator, out: TextIO) -> None:
        self.sim = sim
        self.out = out
        self.seen: dict[int, int] = {MODERATOR: 0, SUBSCRIBER: 0}
        self.names = {MODERATOR: "moderator", SUBSCRIBER: "subscriber"}
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", file=self.out, flush=True)

    def show_new(self) -> None:
        for chat, shown in self.seen.items():
            messages = self.sim.received(chat)
            for msg in messages[shown:]:
                self._show(chat, msg)
            self.seen[chat] = len(messages)

    def _show(self, chat: int, msg: SentMessage) -> None:
        # `source` is the HTML the bot sent; text and caption are what Telegram shows.
        body = msg.source or ""
        if "<s>" in body:
            # A terminal shows no formatting: mark the word diff's struck and added words.
            body = re.sub(r"<blockquote[^>]*>.*?</blockquote>", _marked_diff, body, flags=re.S)
        plain = visible_text(body) if body else ""
        if msg.photo:
            plain = f"[image {len(msg.photo) // 1024} KB] {plain}"
        lines = plain.splitlines() or [""]
        if len(lines) > 12:
            lines = [*lines[:12], f"… ({len(lines) - 12} more lines)"]
        print(f"        ┌ {self.names[chat]} receives:", file=self.out)
        for line in lines:
            print(f"        │ {line}", file=self.out)
        print("        └", file=self.out, flush=True)

    async def wait_for(self, chat: int, count: int, what: str, within: float = 20.0) -> None:
        """Until `chat` has received `count` more messages than shown so far."""
        target = self.seen[chat] + count
        deadline = time.monotonic() + within
        while len(self.sim.received(chat)) < target:
            if time.monotonic() > deadline:
                raise DemoError(f"timed out waiting for: {what}")
            await asyncio.sleep(0.05)
        self.show_new()


def _marked_diff(quote: re.Match[str]) -> str:
    marked = re.sub(r"<s>(.*?)</s>", r"[-\1-]", quote.group(0), flags=re.S)
    return re.sub(r"<b>(.*?)</b>", r"[+\1+]", marked, flags=re.S)


WITHHELD = "This channel can’t be displayed because it violated local laws."


def demo_settings(
    settings: Settings, sim: BotAPISimulator, db: Path, web: WebPreviewSimulator | None = None
) -> Settings:
    through_web = {
        # The preview has no live updates: deletions are found by the sweep, so sweep often.
        "collector": "web",
        "web_preview_base_url": web.base_url if web else "",
        "web_preview_rate": 50.0,
        "reconcile_seconds": 1.0,
    }
    return settings.model_copy(
        update={
            **(through_web if web is not None else {"collector": "telethon"}),
            "database_url": f"sqlite+aiosqlite:///{db}",
            "bot_token": SecretStr(sim.token),
            "bot_api_base_url": sim.base_url,
            "moderator_ids": (MODERATOR,),
            # A week in under a minute: look often.
            "refresh_seconds": 1.0,
            "poll_min_seconds": 0.5,
            "poll_max_seconds": 2.0,
            "mtproto_simulator": "",
        }
    )


def build_world(clock: ManualClock | None = None) -> World:
    world = World(now=clock)
    world.create_channel(
        username=CHANNEL,
        title="Путь домой",
        about="Движение жён и матерей мобилизованных. Верните наших мужчин домой.",
        participants=48_000,
    )
    world.post(CHANNEL, "Мы собираемся у Вечного огня каждую субботу.")
    # A photo post: archived with its bytes, so its deletion alert and the proof pack show it.
    world.post(CHANNEL, "Сбор подписей за ротацию мобилизованных.", media=world.photo(poster_png()))
    return world


def poster_png() -> bytes:
    """A small real picture (the movement's slogan) for the demo's photo post."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2.25), dpi=100, facecolor="#f4efe6")
    figure.text(0.5, 0.5, "Верните наших\nмужчин домой", ha="center", va="center", fontsize=20)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def run_demo(
    settings: Settings,
    *,
    out: TextIO = sys.stdout,
    db: Path = DEMO_DB,
    collector: str = "telethon",
) -> None:
    """The scripted week; `collector="web"` reads the world through its t.me/s face."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    sim = BotAPISimulator()
    await sim.start()
    # The week runs on a clock of its own: it starts seven days ago and each day of the
    # script moves it on a day, so posts, edits and channel changes carry a week of dates.
    clock = ManualClock(datetime.now(UTC) - timedelta(days=WEEK_DAYS))
    world = build_world(clock)
    screen = Screen(sim, out)
    web: WebPreviewSimulator | None = None
    if collector == "web":
        web = WebPreviewSimulator(world)
        await web.start()
        app = await build_app(demo_settings(settings, sim, db, web), clock=world.now)
    else:
        app = await build_app(
            demo_settings(settings, sim, db),
            client=make_simulated_client(world, **CLIENT_OPTIONS),
            clock=world.now,
        )
    await start(app)
    try:
        await _script(world, sim, screen, clock, web)
    finally:
        await stop(app)
        await sim.stop()
        if web is not None:
            await web.stop()
    screen.say(f"done: the archive is in {db}; look at it with")
    print(
        f"    DATABASE_URL=sqlite+aiosqlite:///{db} chanwatch export @{CHANNEL}",
        file=out,
        flush=True,
    )
    screen.say("and its signed proof pack, checkable offline, with")
    print(
        f"    DATABASE_URL=sqlite+aiosqlite:///{db} chanwatch export @{CHANNEL} --format pack "
        f"-o {CHANNEL}.zip && chanwatch verify {CHANNEL}.zip",
        file=out,
        flush=True,
    )


async def _script(
    world: World,
    sim: BotAPISimulator,
    screen: Screen,
    clock: ManualClock,
    web: WebPreviewSimulator | None,
) -> None:
    say = screen.say

    async def step(day: str, action: Callable[[], object], chat: int, count: int) -> None:
        say(day)
        clock.advance(timedelta(days=1).total_seconds())
        action()
        await screen.wait_for(chat, count, day)

    say("chanwatch demo: the real application against a simulated Telegram (no credentials)")
    if web is not None:
        say("the collector reads only the public t.me/s web preview: no Telegram account")
    say("moderator: /start, then /watch @putdomoi")
    sim.user_sends(MODERATOR, "/start", language_code="en", first_name="Moderator")
    await screen.wait_for(MODERATOR, 1, "the moderator's welcome")
    sim.user_sends(MODERATOR, f"/watch @{CHANNEL}", language_code="en")
    # "Looking it up…", then the collector's answer.
    await screen.wait_for(MODERATOR, 2, "the collector resolving @putdomoi")
    say("subscriber (Russian client): /start, then /subscribe @putdomoi")
    sim.user_sends(SUBSCRIBER, "/start", language_code="ru", first_name="Ольга")
    await screen.wait_for(SUBSCRIBER, 1, "the subscriber's welcome")
    sim.user_sends(SUBSCRIBER, f"/subscribe @{CHANNEL}", language_code="ru")
    await screen.wait_for(SUBSCRIBER, 1, "the subscription confirmation")
    await asyncio.sleep(1.5)  # the collector's first look at the channel sets its baseline

    posted: dict[str, int] = {}

    def post() -> None:
        posted["appeal"] = world.post(
            CHANNEL, "Обращение к депутатам: верните мобилизованных домой. Подпишите петицию."
        )

    await step("day 1: the channel posts an appeal", post, SUBSCRIBER, 1)
    await step(
        "day 2: the appeal is edited",
        lambda: world.edit(
            CHANNEL,
            posted["appeal"],
            "Обращение к депутатам: верните мобилизованных домой до зимы. Петиция закрыта.",
        ),
        SUBSCRIBER,
        1,
    )
    await step(
        "day 3: an older post disappears (the archive keeps its text)",
        lambda: world.delete(CHANNEL, [posted["appeal"] - 1]),
        SUBSCRIBER,
        1,
    )
    if web is None:
        await step(
            "day 4: Telegram marks the channel FAKE",
            lambda: world.set_label(CHANNEL, fake=True),
            SUBSCRIBER,
            1,
        )
        await step(
            "day 5: Telegram restricts the channel under local law",
            lambda: world.restrict(
                CHANNEL,
                "all",
                "ru",
                "This channel can't be displayed because it violated local laws.",
            ),
            SUBSCRIBER,
            1,
        )
    else:
        # The preview shows no FAKE label; what it shows is Telegram hiding the channel.
        await step(
            "day 4: Telegram withholds the channel's web preview",
            lambda: web.withhold(CHANNEL, WITHHELD),
            SUBSCRIBER,
            1,
        )
        await step(
            "day 5: the web preview is shown again",
            lambda: web.restore(CHANNEL),
            SUBSCRIBER,
            1,
        )
    await step(
        "day 6: the channel is renamed",
        lambda: world.rename(CHANNEL, "Путь домой — официальный"),
        SUBSCRIBER,
        1,
    )
    await step(
        "day 7: a subscriber surge (+30%)",
        lambda: world.set_participants(CHANNEL, 62_400),
        SUBSCRIBER,
        1,
    )
    say("moderator: /watched and /status")
    sim.user_sends(MODERATOR, "/watched", language_code="en")
    await screen.wait_for(MODERATOR, 1, "the watched list")
    sim.user_sends(MODERATOR, "/status", language_code="en")
    await screen.wait_for(MODERATOR, 1, "the status")
    say("subscriber: /digest — the week so far, with a chart of subscribers")
    sim.user_sends(SUBSCRIBER, "/digest", language_code="ru")
    await screen.wait_for(SUBSCRIBER, 3, "the digest", within=30)
    with contextlib.suppress(DemoError):
        await screen.wait_for(SUBSCRIBER, 1, "the rest of the digest", within=3)
