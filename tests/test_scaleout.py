"""Three collector processes, three simulated Telegram accounts, one PostgreSQL.

`chanwatch run --role collector` runs three times, each with its own session (account),
against the simulated Telegram over TCP, where every account has its own access hashes.
The channels outnumber one account's joins. Checked as a user would: each account joins at
most JOIN_CAP; each channel is read by one account at a time; after `kill -9` of one
collector its channels are read again within two leases; a channel that bans one account
is taken by another (and is no "unavailable" news); every post is one event.

The issue's 1,500 channels with JOIN_CAP 500: more than one account can join, exactly what
three can. The lease is 20 s (the product's default is 60 s), so "within two leases" is 40 s
from the kill, on two loaded cores shared by the three processes, the simulated Telegram and
PostgreSQL. Joined channels hear of posts live; polls (every 5 to 40 s) are the safety net,
and find the posts of channels taken over, which their new holder cannot join.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from simulator.mtproto import World, WorldServer
from storage import kinds
from storage.db import SessionMaker
from storage.models import Channel, Event, Post
from tests.scaleoutkit import CollectorProcesses, seed_world
from tests.scaleoutkit import holders as held_by

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = 1500
JOIN_CAP = 500
LEASE = 20.0
ACCOUNTS = ("acc1", "acc2", "acc3")

pytestmark = pytest.mark.postgres


def _collectors(url: str, world_url: str, workdir: Path) -> CollectorProcesses:
    return CollectorProcesses(
        url,
        world_url,
        workdir,
        {
            "JOIN_CAP": str(JOIN_CAP),
            "COLLECTOR_LEASE_SECONDS": str(LEASE),
            "POLL_MIN_SECONDS": "5",
            "POLL_MAX_SECONDS": "40",
            "REFRESH_SECONDS": "600",
            "RECONCILE_SECONDS": "600",
            "LOG_LEVEL": "INFO",
        },
    )


def _reads(world: World, since: float = 0.0) -> dict[int, list[tuple[float, str]]]:
    """Per channel, every history read: (time, account), in order."""
    out: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for r in world.request_records:
        if r.name == "GetHistoryRequest" and r.timestamp >= since:
            peer = getattr(r.request, "peer", None)
            if peer is not None and hasattr(peer, "channel_id"):
                out[peer.channel_id].append((r.timestamp, r.account))
    return out


async def test_three_accounts_divide_take_over_and_lose_nothing(
    pg: tuple[str, SessionMaker], tmp_path: Path
) -> None:
    url, sessions = pg
    # Watched as /watch by the first account leaves them: its access hashes stored; every
    # other account has hashes of its own.
    world = await seed_world(sessions, CHANNELS, per_account=True)
    chans = list(world.channels.values())
    server = await WorldServer(world).start()
    procs = _collectors(url, server.url, tmp_path)
    posted: list[tuple[int, int]] = []
    rng = random.Random(15)

    def post_some(n: int) -> None:
        for ch in rng.sample(chans, n):
            posted.append((ch.id, world.post(ch.id, f"news {len(posted)}")))

    def joins_within_cap() -> None:
        for name in ACCOUNTS:
            if name in world.accounts:
                joined = len(world.account_info(name).joined)
                assert joined <= JOIN_CAP, f"{name} joined {joined} channels, cap {JOIN_CAP}"

    try:
        for name in ACCOUNTS:
            procs.start(name)

        async def settled() -> bool:
            joins_within_cap()
            holders = await held_by(sessions)
            counts = Counter(holders.values())
            async with sessions() as s:
                unpolled = await s.scalar(
                    select(func.count()).where(Channel.next_poll_at.is_(None))
                )
            procs.state = f"holders {dict(counts)}, never polled {unpolled}"
            return (
                len(holders) == CHANNELS
                and all(abs(counts[a] - CHANNELS / 3) <= 1 for a in ACCOUNTS)
                and unpolled == 0
            )

        await procs.until("three fair shares, every channel backfilled", settled, 180)
        for _ in range(5):
            post_some(20)
            await asyncio.sleep(0.5)
        joins_within_cap()

        # kill -9 of one collector: its channels are read again within two leases.
        before = await held_by(sessions)
        lost = {tg for tg, who in before.items() if who == "acc2"}
        killed_at = world.time()
        procs.kill9("acc2")
        post_some(20)

        async def taken_over() -> bool:
            holders = await held_by(sessions)
            return all(holders.get(tg) in ("acc1", "acc3") for tg in lost)

        await procs.until("acc2's channels taken over", taken_over, 4 * LEASE)

        async def read_again() -> bool:
            reads = _reads(world, killed_at)
            waiting = [tg for tg in lost if not any(a != "acc2" for _, a in reads.get(tg, []))]
            recent = Counter(
                (r.name, r.account) for r in world.request_records if r.timestamp >= killed_at
            )
            procs.state = f"{len(waiting)} unread, requests since the kill {dict(recent)}"
            return not waiting

        await procs.until("acc2's channels read again", read_again, 4 * LEASE)
        reads = _reads(world, killed_at)
        first = {tg: min(t for t, a in reads[tg] if a != "acc2") for tg in lost}
        slowest = max(first.values()) - killed_at
        taken = {
            tg: min(
                (
                    r.timestamp
                    for r in world.request_records
                    if r.timestamp >= killed_at
                    and r.account != "acc2"
                    and getattr(getattr(r.request, "id", [None])[0], "channel_id", None) == tg
                ),
                default=0.0,
            )
            - killed_at
            for tg in lost
        }
        assert slowest <= 2 * LEASE, (
            f"a channel of the killed collector waited {slowest:.1f}s; first refresh after "
            f"{min(taken.values()):.1f}..{max(taken.values()):.1f}s"
        )

        # A channel bans the account holding it: another account takes it.
        holders = await held_by(sessions)
        target = next(ch for ch in chans if holders[ch.id] == "acc1")
        world.ban(target.id, account="acc1")
        banned_at = world.time()
        posted.append((target.id, world.post(target.id, "after the ban")))

        async def moved() -> bool:
            return (await held_by(sessions)).get(target.id) == "acc3"

        await procs.until("the banned channel moved to acc3", moved, 4 * LEASE)
        post_some(20)

        # Every post is exactly one event; nothing lost across the handovers.
        async def all_seen() -> bool:
            joins_within_cap()
            async with sessions() as s:
                n = await s.scalar(
                    select(func.count()).select_from(Event).where(Event.kind == kinds.POST_NEW)
                )
            return n is not None and n >= len(posted)

        await procs.until("every post as an event", all_seen, 60)
        await asyncio.sleep(2 * LEASE)  # late duplicates would show up now
        async with sessions() as s:
            rows = (
                await s.execute(
                    select(Channel.tg_id, Post.message_id)
                    .join(Event, Event.post_id == Post.id)
                    .join(Channel, Channel.id == Post.channel_id)
                    .where(Event.kind == kinds.POST_NEW)
                )
            ).all()
            unavailable = await s.scalar(
                select(func.count()).select_from(Event).where(Event.kind == kinds.UNAVAILABLE)
            )
        assert Counter((tg, mid) for tg, mid in rows) == Counter(posted)
        assert unavailable == 0  # one account's ban is not news about the channel
        assert world.count_requests("GetHistoryRequest", account="acc1") > 0
        after_ban = [a for t, a in _reads(world, banned_at + LEASE)[target.id]]
        assert after_ban and "acc1" not in after_ban

        # One account at a time: a channel's reads change hands only at handovers, never
        # alternating between two accounts.
        runs = {
            tg: sum(1 for i, (_, a) in enumerate(rs) if i == 0 or rs[i - 1][1] != a)
            for tg, rs in _reads(world).items()
        }
        assert max(runs.values()) <= 4, sorted(runs.items(), key=lambda kv: -kv[1])[:5]

        out = subprocess.run(
            [sys.executable, "-m", "chanwatch", "status"],
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": url,
                "COLLECTOR_LEASE_SECONDS": str(LEASE),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("collector account")]
        assert len(lines) == 3, out.stdout + out.stderr
        assert any("acc2" in ln and "not alive" in ln and " 0 channels" in ln for ln in lines)
        assert all(f"(cap {JOIN_CAP})" in ln for ln in lines)
        # Each process's parts and lag are its own lines: none hides the others.
        for name in ACCOUNTS:
            assert f"part collector ({name}): " in out.stdout, out.stdout
            assert f"part assignment ({name}): " in out.stdout, out.stdout
            assert any(ln.startswith(f"collector {name}: ") for ln in out.stdout.splitlines())
    finally:
        procs.stop()
        await server.close()
