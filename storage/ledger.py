"""The observation log: every observation that changed what is stored, hash-chained.

A record is the observation as canonical JSON (keys sorted, no whitespace, UTF-8, only
strings, integers, booleans, null, lists and objects: for such values this is the RFC 8785
form). Its hash is SHA-256 of those bytes; the chain hash is SHA-256(previous chain hash ‖
record hash), starting from 32 zero bytes. Records are appended in the caller's transaction,
so a state change and its record commit or vanish together.

One chain for the whole installation: on PostgreSQL every appender takes a transaction-level
advisory lock first, so several processes append one after the other (the lock is held to
commit, which also makes a record's day follow its seq). SQLite writers are serialized
already (BEGIN IMMEDIATE). Under the lock the appender does not read the head: it chains
onto the head it appended last and inserts the batch in one statement that writes only
if that is still the log's head; when another process appended since (or the last
transaction rolled back) nothing is written, and it reads the head and appends again.
The seq primary key backs this up: no two records can share a place in the chain. The
database itself refuses UPDATE and DELETE on the table (triggers, see
`storage.models.LOG_TRIGGERS`).

Besides changes, at most one "still seen as it was" record per post and per channel per
UTC day says the thing was watched and unchanged on that day (`seen_key` is unique).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chanwatch.proofcheck import GENESIS, chain_next, sha256
from storage import content, locks
from storage.models import Channel, LogRecord, Post
from storage.types import utcnow

DEFAULT_SOURCE = "chanwatch/default/unknown"
FORMAT = 1
LOG = LogRecord.__table__


# orjson writes exactly what json.dumps(sort_keys=True, separators=(",", ":"),
# ensure_ascii=False) writes for these values (tests/test_proof.py checks), ten times faster:
# every observation is encoded once on the write path.
# Datetimes and dataclasses are refused, as json refuses them: records carry text.
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_NESTED = (dict, list, tuple, float)


def canonical(value: Any) -> bytes:
    """The canonical bytes of a record (floats are refused: their text is not canonical)."""
    _check(value)
    try:
        return orjson.dumps(value, option=_SORTED)
    except orjson.JSONEncodeError as exc:  # an integer beyond 64 bits, a non-JSON type
        raise TypeError(f"no canonical form in the log: {exc}") from None


def _check(value: Any) -> None:
    # Records are flat but for a few lists; only nested values and floats need a look.
    # (orjson itself refuses keys that are not strings.)
    kind = type(value)
    if kind is float:
        raise TypeError("floats have no canonical form in the log; store integers or text")
    items = value.values() if kind is dict else value if kind is list or kind is tuple else ()
    for v in items:
        if type(v) in _NESTED:
            _check(v)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def day_of(at: datetime) -> str:
    return at.date().isoformat()


def source_of(account: str, method: str) -> str:
    """Who observed: `chanwatch/<account>/<method>` (method: poll, live, refresh, ...)."""
    return f"chanwatch/{account}/{method}"


class Entry(NamedTuple):
    """One record to append: its type, what it is about, and the observation itself."""

    type: str
    body: Mapping[str, Any]
    channel_id: int | None = None
    subject: str = ""
    seen: bool = False


async def lock(session: AsyncSession) -> None:
    """Take the chain's lock until commit (PostgreSQL; SQLite writers are serialized)."""
    await locks.hold(session, locks.Lock.LOG)


async def _head(session: AsyncSession) -> tuple[int, bytes]:
    t = LOG.c
    last = (
        await session.execute(select(t.seq, t.chain_hash).order_by(t.seq.desc()).limit(1))
    ).first()
    if last is None:
        return 0, GENESIS
    return last[0], bytes.fromhex(last[1])


# The head this process appended last, per engine: the next append states it as the head
# it follows, and the database inserts only if that is still the head (see `_insert_after`),
# so the usual append costs no read of the head and a stale guess costs one extra read.
_heads: weakref.WeakKeyDictionary[Any, tuple[int, bytes]] = weakref.WeakKeyDictionary()

_COLUMNS = (
    "seq, observed_at, day, channel_id, type, subject, seen_key, source, record, "
    "record_hash, chain_hash"
)
_HEAD_HASH = (
    "COALESCE((SELECT h.chain_hash FROM observation_log h ORDER BY h.seq DESC LIMIT 1), "
    f"'{GENESIS.hex()}')"
)
# PostgreSQL: the whole batch in one statement, its columns as arrays. Both statements go
# straight to the driver: SQLAlchemy's handling of each row's parameters cost more than
# the database's insert. When the head moved, the same statement says where it is now
# (one round trip fewer under the lock, which every process's appends wait for).
_PG_INSERT = (
    "WITH head AS (SELECT h.seq, h.chain_hash FROM observation_log h "
    "ORDER BY h.seq DESC LIMIT 1), "
    f"ins AS (INSERT INTO observation_log ({_COLUMNS}) "
    "SELECT r.seq, $1, $2, r.channel_id, r.type, r.subject, r.seen_key, $3, r.record, "
    "r.record_hash, r.chain_hash FROM unnest($4::BIGINT[], $5::BIGINT[], $6::TEXT[], "
    "$7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[]) "
    "AS r(seq, channel_id, type, subject, seen_key, record, record_hash, chain_hash) "
    f"WHERE COALESCE((SELECT chain_hash FROM head), '{GENESIS.hex()}') = $12 RETURNING 1) "
    "SELECT (SELECT count(*) FROM ins), (SELECT seq FROM head), (SELECT chain_hash FROM head)"
)
# SQLite: one row a parameter set, each inserted only after its predecessor, so the
# batch goes in whole or not at all.
_SQLITE_INSERT = (
    f"INSERT INTO observation_log ({_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    f"WHERE {_HEAD_HASH} = ?"
)


def _rows(
    todo: list[Entry], seq: int, chain: bytes, now: datetime, day: str, source: str
) -> list[dict[str, Any]]:
    observed = now.isoformat()
    rows = []
    for e in todo:
        seq += 1
        record = {
            **e.body,
            "v": FORMAT,
            "seq": seq,
            "type": e.type,
            "observed_at": observed,
            "source": source,
        }
        data = canonical(record)
        record_hash = sha256(data)
        after = chain.hex()
        chain = chain_next(chain, record_hash)
        rows.append(
            {
                "seq": seq,
                "channel_id": e.channel_id,
                "type": e.type,
                "subject": e.subject,
                "seen_key": f"{day}:{e.subject}" if e.seen else None,
                "record": data.decode(),
                "record_hash": record_hash.hex(),
                "chain_hash": chain.hex(),
                "after": after,
            }
        )
    return rows


async def _insert_after(
    session: AsyncSession, rows: list[dict[str, Any]], now: datetime, day: str, source: str
) -> tuple[int, bytes] | None:
    """Insert the rows if the log's head is still the one the first row follows: None;
    else nothing is written and the answer is the head (PostgreSQL says which it is)."""
    conn = await session.connection()
    # The time as the column's own type writes it, so the ORM reads it back alike.
    at = LOG.c.observed_at.type.bind_processor(conn.dialect)
    stored = at(now) if at is not None else now
    if conn.dialect.name == "postgresql":
        columns = ("seq", "channel_id", "type", "subject", "seen_key", "record")
        arrays = [[r[c] for r in rows] for c in (*columns, "record_hash", "chain_hash")]
        params: Any = (stored, day, source, *arrays, rows[0]["after"])
        written, seq, chain = tuple((await conn.exec_driver_sql(_PG_INSERT, params)).one())
        head = (seq, bytes.fromhex(chain)) if seq is not None else (0, GENESIS)
    else:
        params = [
            (
                r["seq"], stored, day, r["channel_id"], r["type"], r["subject"], r["seen_key"],
                source, r["record"], r["record_hash"], r["chain_hash"], r["after"],
            )
            for r in rows
        ]  # fmt: skip
        written = int((await conn.exec_driver_sql(_SQLITE_INSERT, params)).rowcount)
        head = None
    if written not in (0, len(rows)):
        raise RuntimeError(f"observation log: {written} of {len(rows)} records appended")
    if written == len(rows):
        return None
    return head if head is not None else await _head(session)


async def append(session: AsyncSession, entries: Iterable[Entry], source: str) -> list[int]:
    """Append records, in order, inside the caller's transaction; their sequence numbers.

    A "seen" entry is dropped when its subject already has a record for today.
    """
    todo = list(entries)
    if not todo:
        return []
    await lock(session)
    now = utcnow()
    day = day_of(now)
    wanted = {f"{day}:{e.subject}" for e in todo if e.seen}
    if wanted:
        taken = set(await session.scalars(select(LOG.c.seen_key).where(LOG.c.seen_key.in_(wanted))))
        todo = [e for e in todo if not (e.seen and f"{day}:{e.subject}" in taken)]
        if not todo:
            return []
    # The sync Engine: the same whether the session is bound to an engine or a connection.
    engine = getattr(session.bind, "sync_engine", None)
    guess = _heads.get(engine) if engine is not None else None
    rows = _rows(todo, *(guess or await _head(session)), now, day, source)
    moved = await _insert_after(session, rows, now, day, source)
    if moved is not None:
        # Another process appended, or the transaction that appended last rolled back.
        rows = _rows(todo, *moved, now, day, source)
        if await _insert_after(session, rows, now, day, source) is not None:
            raise RuntimeError("observation log: the chain head moved under the lock")
    if engine is not None:
        _heads[engine] = (rows[-1]["seq"], bytes.fromhex(rows[-1]["chain_hash"]))
    return [r["seq"] for r in rows]


# --- what the change detector logs ---------------------------------------------------


def channel_state(channel: Channel) -> dict[str, Any]:
    """The channel as stored, as a log record states it."""
    return {
        "channel_tg_id": channel.tg_id,
        "title": channel.title,
        "username": channel.username,
        "about": channel.about,
        "photo_id": channel.photo_id,
        "participants": channel.participants,
        "labels": sorted(channel.labels),
        "restrictions": [dict(r) for r in channel.restriction_reasons],
        "reachable": channel.reachable,
        "unavailable_reason": channel.unavailable_reason,
        "participants_max": channel.participants_max,
        "preview_withheld": channel.preview_withheld,
    }


def post_state(
    channel: Channel, post: Any, version: int, shown: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A post (stored row or fresh sighting) as a log record states it: its text and all
    else it showed (entities, media, forward, reply, preview, poll, location); `shown` is
    a fresh sighting's details when the caller has them already."""
    if shown is None:
        shown = post.details if isinstance(post, Post) else content.details(post)
    return {
        "channel_tg_id": channel.tg_id,
        "message_id": post.message_id,
        "version": version,
        "text": post.text,
        "details": floats_as_text(shown),
        "date": iso(post.date),
        "edit_date": iso(post.edit_date),
        "media_kind": post.media_kind,
        "grouped_id": post.grouped_id,
    }


def floats_as_text(value: Any) -> Any:
    """Numbers with a fraction (a video's duration, a place's latitude) as their shortest
    round-trip decimal text, so that the record stays canonical."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: floats_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [floats_as_text(v) for v in value]
    return value


def _post_subject(channel: Channel, message_id: int) -> str:
    return f"post:{channel.tg_id}:{message_id}"


async def note_channel(session: AsyncSession, channel: Channel, source: str) -> None:
    """Log the channel's state when it differs from the last logged one, else once a day."""
    state = channel_state(channel)
    last = await session.scalar(
        select(LogRecord.record)
        .where(LogRecord.channel_id == channel.id, LogRecord.type == "channel")
        .order_by(LogRecord.seq.desc())
        .limit(1)
    )
    subject = f"channel:{channel.tg_id}"
    if last is not None and {k: json.loads(last).get(k) for k in state} == state:
        entry = Entry("channel_seen", {"channel_tg_id": channel.tg_id}, channel.id, subject, True)
    else:
        entry = Entry("channel", state, channel.id, subject)
    await append(session, [entry], source)


async def note_posts(
    session: AsyncSession,
    channel: Channel,
    new: Iterable[Any],
    seen: Iterable[Any],
    versions_before: Mapping[int, int],
    source: str,
    shown: Mapping[int, dict[str, Any]] | None = None,
) -> None:
    """Log first sightings and new versions in full; unchanged posts once a day."""
    given = shown or {}
    entries = [
        Entry(
            "post",
            post_state(channel, p, 1, given.get(p.message_id)),
            channel.id,
            _post_subject(channel, p.message_id),
        )
        for p in new
    ]
    for p in seen:
        subject = _post_subject(channel, p.message_id)
        if p.version != versions_before.get(p.message_id, p.version):
            entries.append(Entry("post", post_state(channel, p, p.version), channel.id, subject))
        else:
            body = {"channel_tg_id": channel.tg_id, "message_id": p.message_id}
            entries.append(Entry("post_seen", body, channel.id, subject, True))
    await append(session, entries, source)


async def note_deleted(
    session: AsyncSession, channel: Channel, posts: Iterable[Any], source: str
) -> None:
    entries = [
        Entry(
            "post_deleted",
            {
                "channel_tg_id": channel.tg_id,
                "message_id": p.message_id,
                "deleted_at": iso(p.deleted_at),
            },
            channel.id,
            _post_subject(channel, p.message_id),
        )
        for p in posts
    ]
    await append(session, entries, source)


async def note_media(
    session: AsyncSession,
    channel: Channel,
    message_id: int,
    sha256_hex: str,
    size: int,
    mime_type: str | None,
    source: str = DEFAULT_SOURCE,
) -> int:
    """Log a media file stored (content-addressed by its SHA-256); the record's seq."""
    body = {
        "channel_tg_id": channel.tg_id,
        "message_id": message_id,
        "sha256": sha256_hex,
        "size": size,
        "mime_type": mime_type,
    }
    seqs = await append(
        session,
        [Entry("media", body, channel.id, f"media:{channel.tg_id}:{message_id}:{sha256_hex}")],
        source,
    )
    return seqs[0]


async def records(
    session: AsyncSession, *, first: int | None = None, last: int | None = None
) -> list[LogRecord]:
    stmt = select(LogRecord).order_by(LogRecord.seq)
    if first is not None:
        stmt = stmt.where(LogRecord.seq >= first)
    if last is not None:
        stmt = stmt.where(LogRecord.seq <= last)
    return list(await session.scalars(stmt))


async def check_db(session: AsyncSession) -> tuple[list[str], int]:
    """Check the whole log against itself and against the stored posts and channels.

    Returns the problems found (each naming the record or the post) and the records read.
    """
    problems: list[str] = []
    chain, expected, count = GENESIS, 1, 0
    posts: dict[tuple[int, int], dict[str, Any]] = {}
    deleted: set[tuple[int, int]] = set()
    result = await session.stream_scalars(select(LogRecord).order_by(LogRecord.seq))
    async for row in result:
        count += 1
        data = row.record.encode()
        if row.seq != expected:
            problems.append(f"log: seq {expected} is missing (next is {row.seq})")
        expected = row.seq + 1
        if sha256(data).hex() != row.record_hash:
            problems.append(f"log record seq {row.seq}: content does not match its hash")
        chain = chain_next(chain, bytes.fromhex(row.record_hash))
        if chain.hex() != row.chain_hash:
            problems.append(f"log record seq {row.seq}: chain hash broken")
            chain = bytes.fromhex(row.chain_hash)
        body = json.loads(data)
        if body.get("seq") != row.seq:
            problems.append(f"log record seq {row.seq}: its content says seq {body.get('seq')}")
        key = (body.get("channel_tg_id"), body.get("message_id"))
        if row.type == "post":
            posts[key] = body
        elif row.type == "post_deleted":
            deleted.add(key)
    stored = await session.execute(
        select(Post, Channel.tg_id, Channel.username).join(Channel, Channel.id == Post.channel_id)
    )
    for post, tg_id, username in stored:
        name = f"post {post.message_id} of @{username or tg_id} (posts.id {post.id})"
        logged = posts.get((tg_id, post.message_id))
        if logged is None:
            problems.append(f"{name}: not in the observation log")
            continue
        if logged.get("text") != post.text:
            problems.append(
                f"{name}: stored text differs from logged version {logged.get('version')} "
                f"(seq {logged.get('seq')})"
            )
        if "details" in logged and logged["details"] != floats_as_text(post.details):
            problems.append(
                f"{name}: what the post showed (links, media, forward…) differs from logged "
                f"version {logged.get('version')} (seq {logged.get('seq')})"
            )
        if logged.get("version") != post.version:
            problems.append(
                f"{name}: stored version {post.version}, log has {logged.get('version')}"
            )
        if (post.deleted_at is not None) != ((tg_id, post.message_id) in deleted):
            problems.append(f"{name}: deletion mark differs from the log")
    for channel in await session.scalars(select(Channel)):
        last = await session.scalar(
            select(LogRecord.record)
            .where(LogRecord.channel_id == channel.id, LogRecord.type == "channel")
            .order_by(LogRecord.seq.desc())
            .limit(1)
        )
        if last is None:
            continue
        logged_state = json.loads(last)
        for k, v in channel_state(channel).items():
            if logged_state.get(k) != v:
                problems.append(
                    f"channel @{channel.username or channel.tg_id}: {k} differs from the log"
                )
    return problems, count
