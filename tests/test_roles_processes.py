"""Every role as its own process on one PostgreSQL delivers what one process delivers.

A short scenario modelled on `chanwatch demo` (a moderator watches three channels,
subscribers subscribe; the simulated Telegram posts, edits, deletes, marks a channel FAKE,
renames one; the moderator runs the digest) is played twice against the simulated Bot API
and MTProto world over their real interfaces: once with one `chanwatch run` (every role),
once with `--role bot`, `--role router`, `--role sender`, `--role digest` and two
`--role collector` processes, each collector its own simulated account (its own access
hashes) holding part of the channels by lease. What each subscriber chat received — every
text, in order, with times and dates normalised — must be the same, each alert once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from simulator.mtproto import World
from storage.db import create_engine, session_factory
from storage.models import Channel, Delivery, Digest, Subscriber
from tests import dbs
from tests.scaleoutkit import holders, stop_all
from tests.scenario import MODERATOR, Cluster, running_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LEASE = 6.0
ACCOUNTS = ("acc1", "acc2")
CHANNELS = {
    "putdomoi": "Путь домой",
    "zhenymob": "Жёны мобилизованных",
    "sovet_materey": "Совет матерей",
}
# Chat -> the channels it subscribes to (and the language its client speaks).
SUBSCRIPTIONS = {
    2001: ("en", ("putdomoi", "zhenymob", "sovet_materey")),
    2002: ("ru", ("putdomoi", "zhenymob")),
    2003: ("ru", ("sovet_materey",)),
}
ONE_PROCESS: dict[str, tuple[str, ...]] = {"all": ("all",)}
SPLIT: dict[str, tuple[str, ...]] = {
    "bot": ("bot",),
    "router": ("router",),
    "sender": ("sender",),
    "digest": ("digest",),
    "acc1": ("collector",),
    "acc2": ("collector",),
}


class Roles:
    """`chanwatch run --role ...` processes beside a Cluster's simulated Telegram."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, roles: tuple[str, ...]) -> None:
        # A collector is named by its session: one simulated account each.
        account = name if name in ACCOUNTS else "acc1"
        env = {**self.c.env(), "TELETHON_SESSION": f"data/{account}.session"}
        args = [a for r in roles for a in ("--role", r)]
        log = (self.c.workdir / f"chanwatch-{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "chanwatch", "run", *args],
            cwd=self.c.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        stop_all(self.procs.values())

    async def until(
        self, what: str, check: Callable[[], Awaitable[bool] | bool], within: float = 60.0
    ) -> None:
        async def alive_and(check: Callable[[], Awaitable[bool] | bool]) -> bool:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"{name} exited ({proc.returncode}) waiting for {what}\n{self.c.logs()}"
                    )
            result = check()
            return result if isinstance(result, bool) else await result

        await self.c.until(what, lambda: alive_and(check), within)


def build_world() -> World:
    world = World(per_account_access_hash=True, service_messages=False)
    for username, title in CHANNELS.items():
        world.create_channel(username=username, title=title, about="Движение", participants=40_000)
        world.post(username, f"Старый пост канала {title}.")
    return world


TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def normalised(text: str) -> str:
    return DATE.sub("<date>", TIME.sub("<time>", text))


async def play(tmp: Path, processes: dict[str, tuple[str, ...]]) -> dict[int, list[str]]:
    """The scenario with these processes; what each subscriber chat received."""
    async with dbs.database_url("postgres", tmp) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        world = build_world()
        try:
            async with running_cluster(world, url, tmp, sessions) as c:
                c.extra_env.update(
                    COLLECTOR="telethon", COLLECTOR_LEASE_SECONDS=str(LEASE), LOG_LEVEL="INFO"
                )
                roles = Roles(c)
                try:
                    for name, parts in processes.items():
                        roles.start(name, parts)
                    return await _script(c, roles, world)
                finally:
                    roles.stop()
        finally:
            await engine.dispose()


async def _script(c: Cluster, roles: Roles, world: World) -> dict[int, list[str]]:
    sim = c.sim
    until = roles.until

    async def replies(chat: int, count: int, what: str) -> None:
        target = len(sim.received(chat)) + count
        await until(what, lambda: len(sim.received(chat)) >= target)

    for username in CHANNELS:
        sim.user_sends(MODERATOR, f"/watch @{username}", language_code="en")
        await replies(MODERATOR, 2, f"the watch outcome for @{username}")
        assert "Now watching" in (sim.received(MODERATOR)[-1].text or ""), c.logs()
    for chat, (lang, subscribed) in SUBSCRIPTIONS.items():
        sim.user_sends(chat, "/start", language_code=lang)
        await replies(chat, 1, f"{chat}'s welcome")
        for username in subscribed:
            sim.user_sends(chat, f"/subscribe @{username}", language_code=lang)
            await replies(chat, 1, f"{chat} subscribed to @{username}")

    accounts = {"acc1", "acc2"} if "acc2" in roles.procs else {"acc1"}

    async def divided_and_looked_at() -> bool:
        held = await holders(c.sessions)
        async with c.sessions() as s:
            unpolled = await s.scalar(select(func.count()).where(Channel.next_poll_at.is_(None)))
        return len(held) == len(CHANNELS) and set(held.values()) == accounts and unpolled == 0

    # Both accounts hold channels, and every channel's first look set its baseline.
    await until("the channels divided and looked at", divided_and_looked_at, 6 * LEASE)

    readers = {
        u: {chat for chat, (_, subs) in SUBSCRIPTIONS.items() if u in subs} for u in CHANNELS
    }
    expected = {chat: len(sim.received(chat)) for chat in SUBSCRIPTIONS}
    enrolled = dict(expected)

    async def step(username: str, action: Callable[[], object], what: str) -> None:
        action()
        for chat in readers[username]:
            expected[chat] += 1
        await until(what, lambda: all(len(sim.received(ch)) >= n for ch, n in expected.items()), 60)

    posted: dict[str, int] = {}

    def post(username: str, text: str) -> Callable[[], None]:
        return lambda: posted.__setitem__(username, world.post(username, text))

    await step(
        "putdomoi", post("putdomoi", "Обращение к депутатам: верните мобилизованных."), "a post"
    )
    await step("zhenymob", post("zhenymob", "Сбор у Вечного огня в субботу."), "a second post")
    await step(
        "putdomoi",
        lambda: world.edit(
            "putdomoi", posted["putdomoi"], "Обращение к депутатам: верните мобилизованных до зимы."
        ),
        "the edit",
    )
    await step("zhenymob", lambda: world.delete("zhenymob", [posted["zhenymob"]]), "the deletion")
    await step("sovet_materey", lambda: world.set_label("sovet_materey", fake=True), "FAKE")
    await step("putdomoi", lambda: world.rename("putdomoi", "Путь домой — официальный"), "rename")
    await step("sovet_materey", post("sovet_materey", "Пост после метки."), "a post after FAKE")

    # The moderator runs the weekly digest now (the bot process builds it; the sender sends).
    sim.user_sends(MODERATOR, "/digest_run", language_code="en")
    await replies(MODERATOR, 1, "the digest confirmation question")
    c.press(MODERATOR, "dr:yes")

    async def digests_built() -> bool:
        async with c.sessions() as s:
            n = await s.scalar(select(func.count()).select_from(Digest))
        return n == len(SUBSCRIPTIONS)

    await until("a digest for every subscriber", digests_built, 60)
    await until("every delivery sent", c.outbox_drained, 60)
    # The last due week was quiet; each subscriber also asks for the week so far (/digest,
    # as in the demo), which holds the scenario's posts and changes.
    for chat, (lang, _) in SUBSCRIPTIONS.items():
        sim.user_sends(chat, "/digest", language_code=lang)
        await replies(chat, 1, f"{chat}'s digest queued")
    await until("every digest sent", c.outbox_drained, 60)

    # Each alert and digest once: a chat got exactly the parts of its deliveries, no more.
    async with c.sessions() as s:
        chat_of = {sub.id: sub.chat_id for sub in await s.scalars(select(Subscriber))}
        parts: Counter[int] = Counter()
        for d in await s.scalars(select(Delivery).where(Delivery.kind.in_(("alert", "digest")))):
            assert d.status == "sent", (d.id, d.status, d.last_error)
            if d.subscriber_id in chat_of and chat_of[d.subscriber_id] in SUBSCRIPTIONS:
                parts[chat_of[d.subscriber_id]] += len(d.parts)
    got = {}
    for chat in SUBSCRIPTIONS:
        msgs = sim.received(chat)
        alerts_and_digest = len(msgs) - enrolled[chat] - 1  # the bot's own "queued" answer
        assert alerts_and_digest == parts[chat], (chat, alerts_and_digest, parts[chat])
        got[chat] = [
            ("[photo] " if m.photo else "") + normalised(m.text or m.caption or "") for m in msgs
        ]
    for account in accounts:  # each collector did collect, not only hold
        assert world.count_requests("GetHistoryRequest", account=account) > 0, account
    # Kept beside the logs: the two runs' transcripts, to diff when they differ.
    (c.workdir / "received.txt").write_text(
        "\n".join(f"{chat}: {text!r}" for chat, texts in got.items() for text in texts)
    )
    return got


async def test_every_role_its_own_process_delivers_what_one_process_delivers(
    tmp_path: Path,
) -> None:
    if reason := await dbs.postgres_unavailable():
        pytest.skip(reason)
    (tmp_path / "one").mkdir()
    (tmp_path / "split").mkdir()
    one = await play(tmp_path / "one", ONE_PROCESS)
    split = await play(tmp_path / "split", SPLIT)
    for chat in SUBSCRIPTIONS:
        assert split[chat] == one[chat], f"chat {chat} received differently"
    # Each alert once: no text repeated within a chat (the two posts, edit, deletion, label
    # and rename of its channels, and its digest, are all different messages).
    for chat, texts in one.items():
        repeated = [t for t, n in Counter(texts).items() if n > 1]
        assert not repeated, (chat, repeated)
