"""The division of watched channels among collectors: fair shares, join caps, takeover,
bans and limits, on SQLite and PostgreSQL (storage.assignments through real databases)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import assignments, channels
from storage.assignments import ACCOUNT, WEB, Held, shares
from storage.db import SessionMaker, transaction
from storage.models import Channel, ChannelAssignment
from tests.support import T0

LEASE = 30.0


async def _channels(sessions: SessionMaker, n: int) -> list[int]:
    async def work(s: AsyncSession) -> list[int]:
        ids = []
        for i in range(n):
            ch, _ = await channels.add_or_rewatch(
                s,
                tg_id=5000 + i,
                access_hash=1,
                username=f"c{i}",
                title=f"c{i}",
                handle=f"@c{i}",
                added_by=None,
            )
            ids.append(ch.id)
        return ids

    return await transaction(sessions, work)


async def _register(sessions: SessionMaker, name: str, cap: int, kind: str = ACCOUNT) -> int:
    return await transaction(sessions, lambda s: assignments.register(s, kind, name, cap, T0))


async def _round(sessions: SessionMaker, me: int, at: float, **kw: object) -> Held:
    now = T0 + timedelta(seconds=at)
    return await transaction(
        sessions,
        lambda s: assignments.rebalance(s, me, now, LEASE, **kw),  # type: ignore[arg-type]
    )


async def _holders(sessions: SessionMaker) -> dict[int, int]:
    async with sessions() as s:
        rows = await s.scalars(select(ChannelAssignment))
        return {a.channel_id: a.collector_id for a in rows}


def test_shares_follow_join_caps_then_split_the_rest_evenly() -> None:
    assert shares(30, {1: 10, 2: 10, 3: 10}) == {1: 10, 2: 10, 3: 10}
    # Fits in the join slots: in proportion to the caps, so every channel can be joined.
    assert shares(21, {1: 10, 2: 20}) == {1: 7, 2: 14}
    # More than the slots: each its cap, the rest evenly.
    assert shares(1500, {1: 450, 2: 450, 3: 300}) == {1: 550, 2: 550, 3: 400}
    assert sum(shares(7, {1: 0, 2: 0, 3: 0}).values()) == 7
    assert shares(0, {1: 5}) == {1: 0}
    assert shares(5, {}) == {}


async def test_a_new_collector_gets_its_fair_share_in_one_round_each(
    sessions: SessionMaker,
) -> None:
    ids = await _channels(sessions, 30)
    a = await _register(sessions, "a", 450)
    held = await _round(sessions, a, 1)
    assert held.channels == frozenset(ids)  # alone, it holds everything
    b = await _register(sessions, "b", 450)
    c = await _register(sessions, "c", 450)
    # a gives its surplus straight to the newcomers; they only renew what they got.
    await _round(sessions, a, 2)
    hb = await _round(sessions, b, 3)
    hc = await _round(sessions, c, 4)
    ha = await _round(sessions, a, 5)
    assert (len(ha.channels), len(hb.channels), len(hc.channels)) == (10, 10, 10)
    holders = await _holders(sessions)
    assert sorted(holders) == sorted(ids)  # each channel exactly one holder
    assert set(ha.channels).isdisjoint(hb.channels) and set(hb.channels).isdisjoint(hc.channels)


async def test_join_caps_weigh_the_shares(sessions: SessionMaker) -> None:
    await _channels(sessions, 21)
    a = await _register(sessions, "a", 10)
    b = await _register(sessions, "b", 20)
    await _round(sessions, a, 1)
    await _round(sessions, b, 2)
    await _round(sessions, a, 3)
    counts = {
        who: len((await _round(sessions, who, 4 + i)).channels) for i, who in enumerate((a, b))
    }
    assert counts == {a: 7, b: 14}


async def test_a_dead_collectors_channels_are_taken_over_after_its_lease(
    sessions: SessionMaker,
) -> None:
    ids = await _channels(sessions, 12)
    a, b, c = [await _register(sessions, n, 450) for n in "abc"]
    for t, who in enumerate((a, b, c, a, b, c)):
        await _round(sessions, who, t)
    b_had = {ch for ch, who in (await _holders(sessions)).items() if who == b}
    assert len(b_had) == 4
    # b stops beating at t=4. Before its lease runs out nobody takes its channels.
    await _round(sessions, a, 4 + LEASE / 2)
    assert {ch for ch, who in (await _holders(sessions)).items() if who == b} == b_had
    # After it, a and c share them (a dead collector's share is no share).
    ha = await _round(sessions, a, 4 + LEASE + 1)
    hc = await _round(sessions, c, 4 + LEASE + 2)
    ha = await _round(sessions, a, 4 + LEASE + 3)
    assert (len(ha.channels), len(hc.channels)) == (6, 6)
    assert set(ha.channels) | set(hc.channels) == set(ids)
    assert b not in set((await _holders(sessions)).values())


async def test_a_ban_of_one_account_moves_the_channel_and_keeps_it_away(
    sessions: SessionMaker,
) -> None:
    await _channels(sessions, 6)
    a, b = [await _register(sessions, n, 450) for n in "ab"]
    for t, who in enumerate((a, b, a, b)):
        await _round(sessions, who, t)
    ha = await _round(sessions, a, 5)
    banned = min(ha.channels)
    now = T0 + timedelta(seconds=6)
    others = await transaction(
        sessions, lambda s: assignments.note_banned(s, a, banned, now, LEASE)
    )
    assert others  # b may hold it: the ban is a's, not news about the channel
    ha = await _round(sessions, a, 7)
    hb = await _round(sessions, b, 8)
    assert banned not in ha.channels and banned in hb.channels
    assert banned in ha.banned
    # Balance never hands it back to the banned account.
    for t in range(9, 15):
        ha = await _round(sessions, a if t % 2 else b, t)
    assert (await _holders(sessions))[banned] == b


async def test_a_limited_account_hands_everything_over_and_takes_it_back_later(
    sessions: SessionMaker,
) -> None:
    ids = await _channels(sessions, 8)
    a, b = [await _register(sessions, n, 450) for n in "ab"]
    for t, who in enumerate((a, b, a, b)):
        await _round(sessions, who, t)
    until = T0 + timedelta(seconds=100)
    ha = await _round(sessions, a, 5, limited=(until, "FLOOD_WAIT 95s on GetHistoryRequest"))
    assert ha.channels == frozenset() and ha.limited
    hb = await _round(sessions, b, 6)
    assert hb.channels == frozenset(ids)
    async with sessions() as s:
        (row,) = [r for r in await assignments.overview(s, until, LEASE) if r.id == a]
    assert row.channels == 0
    # The wait is over: balance gives a its share again.
    for t, who in enumerate((a, b, a, b), start=101):
        await _round(sessions, who, t)
    assert len((await _round(sessions, a, 110)).channels) == 4


async def test_web_collectors_take_what_no_account_can_hold(sessions: SessionMaker) -> None:
    ids = await _channels(sessions, 6)
    a = await _register(sessions, "a", 450)
    w = await _register(sessions, "a", 0, kind=WEB)
    await _round(sessions, a, 0)
    hw = await _round(sessions, w, 0)
    assert hw.channels == frozenset()  # the account holds them all
    # The account is banned from one channel: only the preview can read it now.
    now = T0 + timedelta(seconds=1)
    await transaction(sessions, lambda s: assignments.note_banned(s, a, ids[0], now, LEASE))
    await _round(sessions, a, 2)
    hw = await _round(sessions, w, 2)
    assert hw.channels == frozenset({ids[0]})
    # The account dies: the preview takes everything after the lease.
    hw = await _round(sessions, w, 2 + LEASE + 1)
    assert hw.channels == frozenset(ids)

    # Unwatched channels leave the division.
    async def unwatch(s: AsyncSession) -> None:
        ch = await s.get(Channel, ids[1])
        assert ch is not None
        await channels.unwatch(s, ch)

    await transaction(sessions, unwatch)
    hw = await _round(sessions, w, 2 + LEASE + 2)
    assert ids[1] not in hw.channels
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ChannelAssignment)) == 5
