"""Collectors divide the watched channels: who holds which channel, until when.

Each collector (a Telegram account, or a web-preview reader) keeps a row with a heartbeat,
and holds channels by lease. A round (`rebalance`) renews the caller's leases, gives away
what it should not hold, and takes free channels up to its fair share; every round runs
under one lock (an advisory lock on PostgreSQL; SQLite has one writer anyway), so two
collectors never take the same channel. A collector only ever gives away its own channels
and only takes free ones (unheld, lease run out, or held by a collector that is dead or
limited), so a channel has one holder at a time.

Shares: accounts share the channels some account may hold, in proportion to their join
caps while the channels fit in the join slots, then each takes its cap plus an equal part
of the rest; web collectors share the channels no account can hold (every account dead,
limited or banned from it), equally.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import locks
from storage.models import Channel, ChannelAssignment, CollectorChannel, CollectorRow

ACCOUNT = "account"
WEB = "web"
KINDS = (ACCOUNT, WEB)


@dataclass(frozen=True)
class Held:
    """What a round leaves a collector with."""

    channels: frozenset[int]
    lease_until: datetime
    # This account's own access hashes, the channels it is a member of, and those that
    # banned it (held or not).
    hashes: Mapping[int, int]
    joined: frozenset[int]
    banned: frozenset[int]
    limited: bool


@dataclass
class _Lease:
    """One assignment as a round reads and changes it."""

    collector_id: int
    lease_until: datetime
    new: bool = False
    moved: bool = False


@dataclass(frozen=True)
class Summary:
    """One collector as `/status` and `chanwatch status` show it."""

    id: int
    kind: str
    name: str
    channels: int
    joined: int
    join_cap: int
    heartbeat_age: float
    alive: bool
    limited_until: datetime | None
    limited_reason: str | None


def shares(n: int, caps: Mapping[int, int]) -> dict[int, int]:
    """Fair shares of `n` channels among collectors with these join caps.

    While the channels fit in the join slots every collector gets a part proportional to
    its cap (so every channel can be joined); beyond that each gets its cap plus an equal
    part of the rest. Remainders go by largest fraction, then by id, so every collector
    computes the same answer.
    """
    ids = sorted(caps)
    if not ids or n <= 0:
        return dict.fromkeys(ids, 0)
    total = sum(max(0, caps[i]) for i in ids)
    if 0 < total and n <= total:
        exact = {i: n * max(0, caps[i]) / total for i in ids}
        base = {i: 0 for i in ids}
    else:
        rest = n - total
        exact = {i: rest / len(ids) for i in ids}
        base = {i: max(0, caps[i]) for i in ids}
    out = {i: base[i] + int(exact[i]) for i in ids}
    left = n - sum(out.values())
    order = sorted(ids, key=lambda i: (-(exact[i] - int(exact[i])), i))
    for i in order[:left]:
        out[i] += 1
    return out


async def _lock(session: AsyncSession) -> None:
    await locks.hold(session, locks.Lock.DIVISION)


async def register(
    session: AsyncSession, kind: str, name: str, join_cap: int, now: datetime
) -> int:
    """This process's collector row (made once, found again after a restart); its id.

    A start clears an old limit: a new login or an ended wait is tried afresh."""
    if kind not in KINDS:
        raise ValueError(f"collector kind {kind!r} is not one of {', '.join(KINDS)}")
    await _lock(session)
    row = await session.scalar(
        select(CollectorRow).where(CollectorRow.kind == kind, CollectorRow.name == name)
    )
    if row is None:
        row = CollectorRow(kind=kind, name=name, join_cap=join_cap, started_at=now)
        session.add(row)
    row.join_cap = join_cap if kind == ACCOUNT else 0
    row.started_at = row.heartbeat_at = now
    row.limited_until = row.limited_reason = None
    await session.flush()
    return row.id


async def _facts(session: AsyncSession, collector_id: int, channel_id: int) -> CollectorChannel:
    row = await session.get(CollectorChannel, (collector_id, channel_id))
    if row is None:
        row = CollectorChannel(collector_id=collector_id, channel_id=channel_id, joined=False)
        session.add(row)
    return row


async def note_hash(
    session: AsyncSession, collector_id: int, channel_id: int, access_hash: int
) -> None:
    """The access hash Telegram gave this account for the channel."""
    (await _facts(session, collector_id, channel_id)).access_hash = access_hash


async def note_joined(
    session: AsyncSession, collector_id: int, channel_id: int, joined: bool
) -> None:
    """This account joined (or left) the channel; the channel row says so while it holds it."""
    (await _facts(session, collector_id, channel_id)).joined = joined
    held = await session.get(ChannelAssignment, channel_id)
    channel = await session.get(Channel, channel_id)
    if channel is not None and (held is None or held.collector_id == collector_id):
        channel.joined = joined


async def note_banned(
    session: AsyncSession, collector_id: int, channel_id: int, now: datetime, lease: float
) -> bool:
    """The channel banned this account; True when another live account may hold it (then
    the ban is this account's, not news about the channel)."""
    await _lock(session)
    facts = await _facts(session, collector_id, channel_id)
    facts.banned_at, facts.joined = now, False
    alive = now - timedelta(seconds=lease)
    others = await session.scalars(
        select(CollectorRow.id).where(
            CollectorRow.kind == ACCOUNT,
            CollectorRow.id != collector_id,
            CollectorRow.heartbeat_at >= alive,
        )
    )
    banned = set(
        await session.scalars(
            select(CollectorChannel.collector_id).where(
                CollectorChannel.channel_id == channel_id, CollectorChannel.banned_at.is_not(None)
            )
        )
    )
    return any(other not in banned for other in others)


def _ok(row: CollectorRow, now: datetime, lease: float) -> bool:
    """Alive (heartbeat within a lease) and not limited by Telegram."""
    alive = row.heartbeat_at >= now - timedelta(seconds=lease)
    return alive and (row.limited_until is None or row.limited_until <= now)


async def rebalance(
    session: AsyncSession,
    me: int,
    now: datetime,
    lease: float,
    *,
    limited: tuple[datetime, str] | None = None,
    busy: Iterable[int] = (),
) -> Held:
    """One round for collector `me`: heartbeat, give away, take, renew; what it holds now.

    `limited` is Telegram's limit on this account, if any (it then holds nothing another
    collector can take); `busy` are channels with work in flight, never given away on
    balance alone (their work would overlap the next holder's).
    """
    await _lock(session)
    rows = {r.id: r for r in await session.scalars(select(CollectorRow))}
    mine = rows[me]
    mine.heartbeat_at = now
    if limited is not None:
        mine.limited_until, mine.limited_reason = limited
    elif mine.limited_until is not None and mine.limited_until <= now:
        mine.limited_until = mine.limited_reason = None
    ok = {i for i, r in rows.items() if _ok(r, now, lease)}
    accounts = {i: rows[i].join_cap for i in ok if rows[i].kind == ACCOUNT}
    webs = {i: 0 for i in ok if rows[i].kind == WEB}
    watched = list(
        await session.scalars(
            select(Channel.id).where(Channel.watched.is_(True)).order_by(Channel.id)
        )
    )
    watched_set = set(watched)
    await session.execute(
        delete(ChannelAssignment).where(ChannelAssignment.channel_id.not_in(watched))
        if watched
        else delete(ChannelAssignment)
    )
    # Plain rows, not ORM objects, and the writes batched at the end: a round reads every
    # assignment and every account's facts (thousands at 1,500 channels), and while it works
    # its process's event loop serves nothing else, e.g. a transaction holding the log's lock.
    held = {
        a.channel_id: _Lease(a.collector_id, a.lease_until)
        for a in await session.execute(
            select(
                ChannelAssignment.channel_id,
                ChannelAssignment.collector_id,
                ChannelAssignment.lease_until,
            )
        )
        if a.channel_id in watched_set
    }
    facts = list(
        await session.execute(
            select(
                CollectorChannel.collector_id,
                CollectorChannel.channel_id,
                CollectorChannel.access_hash,
                CollectorChannel.joined,
            )
        )
    )
    banned: dict[int, set[int]] = {}
    for f in await session.execute(
        select(CollectorChannel.collector_id, CollectorChannel.channel_id).where(
            CollectorChannel.banned_at.is_not(None)
        )
    ):
        banned.setdefault(f.channel_id, set()).add(f.collector_id)

    def can(collector: int, channel: int) -> bool:
        return collector in ok and collector not in banned.get(channel, ())

    pool: dict[int, str | None] = {}
    for ch in watched:
        if any(can(a, ch) for a in accounts):
            pool[ch] = ACCOUNT
        elif any(can(w, ch) for w in webs):
            pool[ch] = WEB
        else:
            pool[ch] = None
    counts = Counter(pool.values())
    target = shares(counts[ACCOUNT], accounts) | shares(counts[WEB], webs)

    def rightful(collector: int, ch: int) -> bool:
        return can(collector, ch) and rows[collector].kind == pool[ch]

    have = Counter(a.collector_id for ch, a in held.items() if rightful(a.collector_id, ch))
    my_joined = {f.channel_id for f in facts if f.collector_id == me and f.joined}
    joined_by = {(f.collector_id, f.channel_id) for f in facts if f.joined}

    def assign(ch: int, collector: int) -> None:
        row = held.get(ch)
        if row is None:
            held[ch] = _Lease(collector, now + timedelta(seconds=lease), new=True)
            return
        row.collector_id, row.moved = collector, True
        row.lease_until = now + timedelta(seconds=lease)

    def taker(ch: int, *, need_room: bool) -> int | None:
        best = [(target.get(c, 0) - have[c], -c) for c in ok if c != me and rightful(c, ch)]
        if not best:
            return None
        room, neg = max(best)
        return -neg if room > 0 or not need_room else None

    # Give away: what this collector may not hold, then its surplus (never busy ones).
    busy_set = set(busy)
    mine_now = sorted(ch for ch, a in held.items() if a.collector_id == me)
    keep = [ch for ch in mine_now if rightful(me, ch)]
    for ch in mine_now:
        if ch in keep:
            continue
        other = taker(ch, need_room=False)
        if other is not None:
            assign(ch, other)
            have[other] += 1
    surplus = len(keep) - target.get(me, 0)
    # Channels this account has not joined go first: a joined one keeps its slot in use.
    for ch in sorted(keep, key=lambda c: (c in my_joined, -c)):
        if surplus <= 0:
            break
        if ch in busy_set:
            continue
        other = taker(ch, need_room=True)
        if other is None:
            continue
        assign(ch, other)
        have[other] += 1
        have[me] -= 1
        surplus -= 1
    # Take free channels up to the share: unheld, lease run out, or held by a collector
    # that is dead, limited or banned from it.
    room = target.get(me, 0) - have[me]
    if room > 0:
        free = [
            ch
            for ch in watched
            if rightful(me, ch)
            and (ch not in held or held[ch].lease_until < now or not can(held[ch].collector_id, ch))
            and (ch not in held or held[ch].collector_id != me)
        ]
        free.sort(key=lambda c: ((me, c) not in joined_by, c))
        for ch in free[:room]:
            assign(ch, me)
            have[me] += 1
    until = now + timedelta(seconds=lease)
    new_rows = [
        {"channel_id": ch, "collector_id": a.collector_id, "lease_until": until, "assigned_at": now}
        for ch, a in held.items()
        if a.new
    ]
    moved = [
        {"channel_id": ch, "collector_id": a.collector_id, "lease_until": until, "assigned_at": now}
        for ch, a in held.items()
        if a.moved and not a.new
    ]
    if new_rows:
        await session.execute(insert(ChannelAssignment), new_rows)
    if moved:
        await session.execute(update(ChannelAssignment), moved)  # by primary key, batched
    await session.execute(
        update(ChannelAssignment)
        .where(ChannelAssignment.collector_id == me)
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    result = [ch for ch, a in held.items() if a.collector_id == me]
    # The channel row says whether its holder is a member (live updates, slower polls).
    for joined in (True, False):
        ids = [ch for ch in result if (ch in my_joined) is joined]
        if ids:
            await session.execute(
                update(Channel)
                .where(Channel.id.in_(ids), Channel.joined.is_not(joined))
                .values(joined=joined)
                .execution_options(synchronize_session=False)
            )
    return Held(
        channels=frozenset(result),
        lease_until=until,
        hashes={
            f.channel_id: f.access_hash for f in facts if f.collector_id == me and f.access_hash
        },
        joined=frozenset(my_joined),
        banned=frozenset(ch for ch, who in banned.items() if me in who),
        limited=me not in ok,
    )


async def overview(session: AsyncSession, now: datetime, lease: float) -> list[Summary]:
    """Every collector: its channels, joined count, limit and heartbeat age."""
    rows = list(await session.scalars(select(CollectorRow).order_by(CollectorRow.id)))
    holds = Counter(await session.scalars(select(ChannelAssignment.collector_id)))
    joined = Counter(
        await session.scalars(
            select(CollectorChannel.collector_id).where(CollectorChannel.joined.is_(True))
        )
    )
    return [
        Summary(
            id=r.id,
            kind=r.kind,
            name=r.name,
            channels=holds[r.id],
            joined=joined[r.id],
            join_cap=r.join_cap,
            heartbeat_age=max(0.0, (now - r.heartbeat_at).total_seconds()),
            alive=r.heartbeat_at >= now - timedelta(seconds=lease),
            limited_until=r.limited_until if r.limited_until and r.limited_until > now else None,
            limited_reason=r.limited_reason if r.limited_until and r.limited_until > now else None,
        )
        for r in rows
    ]
