"""The whole record: watched channels, their archive, events, subscribers and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import false

from storage.types import BigIntPK, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Json: JSON(),
        int: Integer(),
    }


class Channel(Base):
    """A watched channel and its current state as last observed."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tg_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    access_hash: Mapped[int | None] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    about: Mapped[str] = mapped_column(Text, default="")
    photo_id: Mapped[int | None] = mapped_column(BigInteger)
    is_fake: Mapped[bool] = mapped_column(Boolean, default=False)
    is_scam: Mapped[bool] = mapped_column(Boolean, default=False)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"platform": "android", "reason": "porn", "text": "..."}]
    restriction_reasons: Mapped[list[Json]] = mapped_column(JSON, default=list)
    participants: Mapped[int | None] = mapped_column(Integer)
    # Set when the count is known only as a range (the web preview's "38.2K").
    participants_max: Mapped[int | None] = mapped_column(Integer)
    # When the account last read the full record: web values then never replace API ones.
    api_refreshed_at: Mapped[datetime | None]
    preview_withheld: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unavailable_reason: Mapped[str | None] = mapped_column(String(32))
    unavailable_since: Mapped[datetime | None]
    last_message_id: Mapped[int] = mapped_column(Integer, default=0)
    joined: Mapped[bool] = mapped_column(Boolean, default=False)
    watched: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    poll_interval_s: Mapped[float] = mapped_column(Float, default=300.0)
    next_poll_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    last_refreshed_at: Mapped[datetime | None]
    last_post_at: Mapped[datetime | None]
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every recorded change, so a label added, removed and added again is three events.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    input_handle: Mapped[str] = mapped_column(String(255), default="")
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]

    @property
    def held_username(self) -> str | None:
        """The username to link the channel by (see `held_username`)."""
        return held_username(self.username, self.reachable, self.unavailable_reason)

    @property
    def labels(self) -> set[str]:
        return labels_of(
            self.is_fake,
            self.is_scam,
            self.is_verified,
            self.is_restricted,
            self.restriction_reasons,
        )


def held_username(username: str | None, reachable: bool, reason: str | None) -> str | None:
    """A stored username, unless the channel is unreachable for a reason that takes the name
    away (private, deleted, the name released): it may lead to another channel by now. A
    channel banned for our account still holds its name."""
    return username if reachable or reason == "banned" else None


def labels_of(
    fake: bool, scam: bool, verified: bool, restricted: bool, reasons: list[Json]
) -> set[str]:
    """The label set events speak of: fake, scam, verified, restricted:<platform>:<reason>."""
    labels = {name for name, on in (("fake", fake), ("scam", scam), ("verified", verified)) if on}
    if restricted:
        labels |= {f"restricted:{r['platform']}:{r['reason']}" for r in reasons}
        if not reasons:
            labels.add("restricted:all:unknown")
    return labels


class WatchRequest(Base):
    """A moderator asked to watch a handle; the collector resolves it and answers here."""

    __tablename__ = "watch_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    handle: Mapped[str] = mapped_column(String(255))
    requested_by: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result_code: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class ChannelSnapshot(Base):
    """The channel's countable state over time, for charts and subscriber jumps."""

    __tablename__ = "channel_snapshots"
    __table_args__ = (Index("ix_channel_snapshots_channel_taken", "channel_id", "taken_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    participants: Mapped[int | None] = mapped_column(Integer)
    participants_max: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)


class Post(Base):
    """A message as last seen; rows are never deleted, a deletion sets deleted_at."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "message_id", name="uq_posts_channel_message"),
        Index("ix_posts_channel_date", "channel_id", "date"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    message_id: Mapped[int] = mapped_column(Integer)
    grouped_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    media_kind: Mapped[str | None] = mapped_column(String(32))
    date: Mapped[datetime]
    edit_date: Mapped[datetime | None]
    views: Mapped[int | None] = mapped_column(Integer)
    forwards: Mapped[int | None] = mapped_column(Integer)
    reactions: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Everything the post showed beyond its text (storage.content): entities, media,
    # forward origin, reply, author, link preview, poll, location.
    details: Mapped[Json] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    versions: Mapped[list[PostVersion]] = relationship(
        back_populates="post", order_by="PostVersion.version"
    )


class PostVersion(Base):
    """Every version a post has had, the first one included: text and what else it showed."""

    __tablename__ = "post_versions"
    __table_args__ = (UniqueConstraint("post_id", "version", name="uq_post_versions_post_version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[Json] = mapped_column(JSON, default=dict)
    edit_date: Mapped[datetime | None]
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    post: Mapped[Post] = relationship(back_populates="versions")


class MediaFile(Base):
    """A file a post or the channel showed, and what became of fetching it.

    The bytes live in the content-addressed store (storage.mediastore) under their
    SHA-256; this row says which post showed them. Rows are written with the post, in
    the same transaction, so the download queue survives any crash.
    """

    __tablename__ = "media_files"
    __table_args__ = (
        UniqueConstraint(
            "channel_id", "message_id", "role", "tg_id", name="uq_media_files_channel_message"
        ),
        Index("ix_media_files_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), index=True)
    # 0 for the channel's own photo.
    message_id: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(16))  # post, channel_photo
    tg_id: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    # What Telegram says the file weighs, kept even when the file is not fetched.
    size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # The largest thumbnail, kept in place of a file over MEDIA_MAX_MB.
    thumb_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None]


class PostMetric(Base):
    """Views, forwards and reactions of a post over time."""

    __tablename__ = "post_metrics"
    __table_args__ = (Index("ix_post_metrics_post_taken", "post_id", "taken_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    views: Mapped[int | None] = mapped_column(Integer)
    forwards: Mapped[int | None] = mapped_column(Integer)
    reactions: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    """A change worth telling; the dedupe key makes the same change seen twice one event."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_channel_occurred", "channel_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"))
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[Json] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    routed_at: Mapped[datetime | None] = mapped_column(index=True)


class Subscriber(Base):
    """A chat that gets alerts: a user's private chat, a group, a supergroup or a channel.

    Only a private chat has a `user_id` (moderator rights and bans are a user's); a group's
    subscriptions are managed by its admins, a channel's by the admin who linked it.
    `blocked_at` is set when the chat can no longer be sent to (the user blocked the bot,
    the bot was removed from the group or lost the right to post in the channel).
    """

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    # private, group, supergroup, channel (Telegram's chat types).
    kind: Mapped[str] = mapped_column(String(16), default="private", server_default="private")
    # The Telegram user who linked a channel as a target (/target); None for other chats.
    linked_by: Mapped[int | None] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    is_moderator: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    muted_until: Mapped[datetime | None]
    blocked_at: Mapped[datetime | None]
    block_reason: Mapped[str | None] = mapped_column(String(255))
    banned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True
    )


class Subscription(Base):
    """A subscriber follows a channel, for some kinds of events, maybe only matching keywords."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "channel_id", name="uq_subscriptions_subscriber_channel"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    # Groups of event kinds: posts, edits, deletions, channel (see storage.kinds).
    event_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The forum topic (message_thread_id) of a forum supergroup this channel's alerts go to.
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")


class Digest(Base):
    """One subscriber's digest of one period: built once, sent through the outbox once."""

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "period_key", name="uq_digests_subscriber_period"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    stats: Mapped[Json] = mapped_column(JSON, default=dict)
    chart_png: Mapped[bytes | None] = mapped_column(LargeBinary)


class DigestRun(Base):
    """A weekly period: when it was due, started and completed."""

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    period_key: Mapped[str] = mapped_column(String(32), unique=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    subscribers: Mapped[int] = mapped_column(Integer, default=0)


DELIVERY_OPEN_SQL = "status IN ('pending', 'sending')"


class Delivery(Base):
    """The outbox: one row per (subscriber, event or digest or broadcast), sent at most once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
        # The queue in order, open rows only: claiming stays flat however many were sent.
        Index(
            "ix_deliveries_open",
            "id",
            sqlite_where=text(DELIVERY_OPEN_SQL),
            postgresql_where=text(DELIVERY_OPEN_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # alert, digest, broadcast
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    # [{"method": "sendMessage", "text": "..."}, {"method": "sendPhoto", "caption": "..."}]
    parts: Mapped[list[Json]] = mapped_column(JSON, default=list)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what as a moderator."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    actor_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[Json] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceStatus(Base):
    """Health that one part reports and another shows (collector lag, flood waits)."""

    __tablename__ = "service_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[Json] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LogRecord(Base):
    """One observation in the append-only, hash-chained log (see storage.ledger)."""

    __tablename__ = "observation_log"
    # Few indexes: every write path appends here. Days are found by seq ranges (a record's
    # day follows its seq), and only "still seen" rows carry a seen_key.
    __table_args__ = (
        Index("ix_observation_log_channel_seq", "channel_id", "seq"),
        Index(
            "uq_observation_log_seen_key",
            "seen_key",
            unique=True,
            sqlite_where=text("seen_key IS NOT NULL"),
            postgresql_where=text("seen_key IS NOT NULL"),
        ),
    )

    # Assigned by the appender under the chain lock, never by the database (on SQLite it
    # is the rowid, so the table needs no separate key index).
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    observed_at: Mapped[datetime]
    day: Mapped[str] = mapped_column(String(10))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128), default="")
    # "<day>:<subject>" for a "still seen" record, so there is at most one a day.
    seen_key: Mapped[str | None] = mapped_column(String(160))
    source: Mapped[str] = mapped_column(String(255))
    record: Mapped[str] = mapped_column(Text)
    record_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))


# The database refuses to change or remove a log row, whoever asks.
LOG_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER observation_log_no_update BEFORE UPDATE ON observation_log "
        "BEGIN SELECT RAISE(ABORT, 'observation_log is append-only'); END",
        "CREATE TRIGGER observation_log_no_delete BEFORE DELETE ON observation_log "
        "BEGIN SELECT RAISE(ABORT, 'observation_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION observation_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'observation_log is append-only'; END $$",
        "CREATE TRIGGER observation_log_no_change BEFORE UPDATE OR DELETE ON observation_log "
        "FOR EACH ROW EXECUTE FUNCTION observation_log_refuse()",
        "CREATE TRIGGER observation_log_no_truncate BEFORE TRUNCATE ON observation_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION observation_log_refuse()",
    ],
}
DROP_LOG_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS observation_log_no_update",
        "DROP TRIGGER IF EXISTS observation_log_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS observation_log_no_change ON observation_log",
        "DROP TRIGGER IF EXISTS observation_log_no_truncate ON observation_log",
        "DROP FUNCTION IF EXISTS observation_log_refuse()",
    ],
}


for _dialect, _statements in LOG_TRIGGERS.items():
    for _sql in _statements:
        # SQLAlchemy leaves DDL.__init__ unannotated; it takes the statement's text.
        _ddl = DDL(_sql)  # type: ignore[no-untyped-call]
        event.listen(LogRecord.__table__, "after_create", _ddl.execute_if(dialect=_dialect))


class Checkpoint(Base):
    """A signed Merkle root over one UTC day's records (or the day so far), maybe timestamped."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("day", "last_seq", name="uq_checkpoints_day_last_seq"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    # True once the day is over: no record can join it any more.
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    # The signed statement (canonical JSON: day, seqs, count, root, chain head, ...).
    statement: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # [{"url": ..., "token": base64 DER TimeStampResp, "at": iso}]
    tsa_tokens: Mapped[list[Json]] = mapped_column(JSON, default=list)
    tsa_attempts: Mapped[int] = mapped_column(Integer, default=0)
    tsa_next_at: Mapped[datetime | None]
    tsa_error: Mapped[str | None] = mapped_column(Text)


class CollectorRow(Base):
    """One collector of the division: a Telegram account (kind "account", named by its
    session) or a web-preview reader (kind "web"); its heartbeat says it is alive."""

    __tablename__ = "collectors"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_collectors_kind_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    # The account's Telegram user id, once it is known (None for web collectors).
    tg_user_id: Mapped[int | None] = mapped_column(BigInteger)
    join_cap: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Telegram limited the account (a long flood wait, PeerFlood, a dead session) until then:
    # it holds no channel meanwhile.
    limited_until: Mapped[datetime | None]
    limited_reason: Mapped[str | None] = mapped_column(String(255))


class ChannelAssignment(Base):
    """Which collector holds a channel, until when: one holder per channel at a time."""

    __tablename__ = "channel_assignments"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), index=True)
    lease_until: Mapped[datetime]
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectorChannel(Base):
    """What one account knows of one channel: its own access hash (Telegram gives every
    account its own), whether it joined, and whether the channel banned this account."""

    __tablename__ = "collector_channels"

    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    access_hash: Mapped[int | None] = mapped_column(BigInteger)
    joined: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    banned_at: Mapped[datetime | None]
