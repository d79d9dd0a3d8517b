"""Change detection: compare an observation with stored state, write state and events together.

Every function here runs inside the caller's transaction and locks the channel
row first, so the same change seen at once by a live update and by a poll is
detected once (PostgreSQL: the second waits and then sees no difference;
SQLite: writers are serialized anyway). Dedupe keys back that up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import channels, content, events, kinds, ledger, media, payloads
from storage.models import Channel, ChannelSnapshot, Event, Post, PostMetric, PostVersion, labels_of
from storage.observations import ChannelSeen, MediaSeen, MetricsSeen, PostSeen, Recorded
from storage.types import utcnow

SNAPSHOT_EVERY = timedelta(hours=1)
USERNAME_RELEASED = "username_released"


async def lock_channel(session: AsyncSession, channel_id: int) -> Channel:
    """The channel's row, locked against other observers until commit.

    FOR NO KEY UPDATE: it still serializes writers of the channel, and lets the inserts that
    only refer to it (the observation log's, under the log's lock, in another transaction)
    go on. FOR UPDATE would block them, and the log's lock holder waiting for a row whose
    holder waits for the log's lock is a deadlock that stalls every process's appends."""
    channel = await session.scalar(
        select(Channel).where(Channel.id == channel_id).with_for_update(key_share=True)
    )
    if channel is None:
        raise LookupError(f"channel {channel_id} is not in the database")
    return channel


async def _event(
    session: AsyncSession,
    channel: Channel,
    key: str,
    payload: payloads.Payload,
    out: Recorded,
    *,
    occurred_at: datetime | None = None,
    post_id: int | None = None,
) -> None:
    event_id = await events.record(
        session,
        channel_id=channel.id,
        dedupe_key=f"{payload.kind}:{channel.id}:{key}",
        payload=payload,
        occurred_at=occurred_at,
        post_id=post_id,
    )
    if event_id is not None:
        out.event_ids.append(event_id)


# --- the channel itself -------------------------------------------------------------


async def observe_channel(
    session: AsyncSession,
    channel_id: int,
    seen: ChannelSeen,
    *,
    jump_pct: float = 10.0,
    jump_window: timedelta = timedelta(hours=24),
    source: str = ledger.DEFAULT_SOURCE,
) -> Recorded:
    channel = await lock_channel(session, channel_id)
    out = Recorded()
    now = seen.observed_at
    if seen.access_hash and not seen.is_min:
        channel.access_hash = seen.access_hash
    # The account's record outranks the preview for the photo and the subscriber count.
    web_after_api = seen.source == "web" and channel.api_refreshed_at is not None
    # FAKE, SCAM and restrictions come from the account only: its first look sets them,
    # even when the preview looked at the channel before.
    first_api_look = channel.api_refreshed_at is None
    if seen.source == "api" and not seen.is_min:
        channel.api_refreshed_at = now

    async def change(payload: payloads.Payload, key: str) -> None:
        channel.revision += 1
        await _event(session, channel, f"{key}:r{channel.revision}", payload, out, occurred_at=now)

    if not channel.reachable and not seen.is_min:
        # Seeing the channel's full record again means it is back; a channel that was
        # unreachable for want of a username is back only once it has one.
        if channel.unavailable_reason != USERNAME_RELEASED or seen.username:
            await _mark_available(session, channel, now, out)

    if web_after_api and seen.title is not None and _same_text(seen.title, channel.title):
        seen = replace(seen, title=None)  # the page's rendering of the API's title
    if web_after_api and seen.about is not None and _same_text(seen.about, channel.about):
        seen = replace(seen, about=None)
    if seen.title is not None and seen.title != channel.title and channel.title:
        await change(payloads.Renamed(before=channel.title, after=seen.title), "title")
    if seen.title is not None:
        channel.title = seen.title

    if seen.username_known and not seen.is_min:
        before, after = channel.username, seen.username
        if (before or "").lower() != (after or "").lower():
            await change(payloads.UsernameChanged(before=before, after=after), "username")
            if after:  # Telegram just showed who holds the name now
                await channels.release_username(session, after, keep=channel.tg_id, source=source)
            channel.username = after
        elif not web_after_api:
            channel.username = after
        if before and not after and channel.reachable:
            # Without its public link the channel is gone for everyone who is not a member.
            released = payloads.Unavailable(
                reason=USERNAME_RELEASED, detail=before, answer="username_removed", username=before
            )
            await _mark_unavailable(session, channel, released, now, out)

    if seen.about is not None and seen.about != channel.about:
        if channel.last_refreshed_at is not None:
            await change(payloads.AboutChanged(before=channel.about, after=seen.about), "about")
        channel.about = seen.about

    if (
        (seen.photo_known or seen.photo_id is not None)
        and not seen.is_min
        and not web_after_api
        and seen.photo_id != channel.photo_id
    ):
        # The preview's picture and the account's are the same photo under two ids: the
        # account's first look replaces it quietly, as it sets the labels.
        if channel.last_refreshed_at is not None and not (seen.source == "api" and first_api_look):
            photo = payloads.PhotoChanged(before=channel.photo_id, after=seen.photo_id)
            await change(photo, "photo")
        channel.photo_id = seen.photo_id
        if seen.photo_id:
            # The avatar is archived too: the old one was, when it was new.
            await media.enqueue(session, [media.channel_photo_row(channel.id, seen.photo_id, now)])

    if not seen.is_min and None not in (seen.fake, seen.scam, seen.verified, seen.restricted):
        reasons = [r.as_json() for r in (seen.restrictions or ())]
        old = channel.labels
        new = labels_of(
            bool(seen.fake), bool(seen.scam), bool(seen.verified), bool(seen.restricted), reasons
        )
        texts = {f"restricted:{r['platform']}:{r['reason']}": r["text"] for r in reasons}
        old_texts = {
            f"restricted:{r['platform']}:{r['reason']}": r.get("text", "")
            for r in channel.restriction_reasons
        }
        # The first look at a channel sets its state; labels it already had are not news.
        if channel.last_refreshed_at is not None and not first_api_look:
            for label in sorted(new - old):
                await change(payloads.LabelAdded(label=label, text=texts.get(label)), label)
            for label in sorted(old - new):
                await change(payloads.LabelRemoved(label=label, text=old_texts.get(label)), label)
        channel.is_fake, channel.is_scam = bool(seen.fake), bool(seen.scam)
        channel.is_verified, channel.is_restricted = bool(seen.verified), bool(seen.restricted)
        channel.restriction_reasons = reasons
    elif seen.verified is not None and not seen.is_min:
        # The web preview shows the verified mark and no other label: the rest stay as they are.
        if channel.last_refreshed_at is not None and seen.verified != channel.is_verified:
            model = payloads.LabelAdded if seen.verified else payloads.LabelRemoved
            await change(model(label="verified"), "verified")
        channel.is_verified = seen.verified

    count, count_max = seen.participants, seen.participants_max
    if (
        web_after_api
        and count is not None
        and channel.participants is not None
        and channel.participants_max is None
        and count <= channel.participants <= (count_max or count)
    ):
        count = None  # the exact count the API gave still reads as what the preview shows
    if count is not None and not seen.is_min:
        await _participants(session, channel, count, count_max, now, jump_pct, jump_window, out)
        channel.participants, channel.participants_max = count, count_max

    if not seen.is_min:
        channel.last_refreshed_at = now
    channel.last_checked_at = now
    await ledger.note_channel(session, channel, source)
    return out


def _same_text(a: str, b: str | None) -> bool:
    """The same words, whatever the spacing: the page trims and joins what the API keeps."""
    return b is not None and a.split() == b.split()


async def _participants(
    session: AsyncSession,
    channel: Channel,
    count: int,
    count_max: int | None,
    now: datetime,
    pct: float,
    window: timedelta,
    out: Recorded,
) -> None:
    last = await session.scalar(
        select(ChannelSnapshot)
        .where(ChannelSnapshot.channel_id == channel.id)
        .order_by(ChannelSnapshot.taken_at.desc(), ChannelSnapshot.id.desc())
        .limit(1)
    )
    # A jump is measured from the oldest count in the window, or from the last jump reported.
    since = now - window
    last_jump = await session.scalar(
        select(Event.occurred_at)
        .where(Event.channel_id == channel.id, Event.kind == kinds.SUBSCRIBERS_JUMP)
        .order_by(Event.occurred_at.desc())
        .limit(1)
    )
    if last_jump is not None and last_jump > since:
        since = last_jump
    base = await session.scalar(
        select(ChannelSnapshot)
        .where(
            ChannelSnapshot.channel_id == channel.id,
            ChannelSnapshot.taken_at >= since,
            ChannelSnapshot.participants.is_not(None),
        )
        .order_by(ChannelSnapshot.taken_at, ChannelSnapshot.id)
        .limit(1)
    )
    if base is not None and base.participants:
        # Counts shown rounded are ranges: only the change every reading agrees on counts.
        base_max, new_max = base.participants_max or base.participants, count_max or count
        # before/after are the closest readings, so that they say what change_pct says.
        if count > base_max:
            before, after = base_max, count
        elif new_max < base.participants:
            before, after = base.participants, new_max
        else:
            before = after = base.participants
        change_pct = (after - before) * 100.0 / before
        if abs(change_pct) >= pct:
            hours = max((now - base.taken_at).total_seconds() / 3600.0, 0.0)
            channel.revision += 1
            await _event(
                session,
                channel,
                f"r{channel.revision}",
                payloads.SubscribersJump(
                    before=before,
                    after=after,
                    change_pct=round(change_pct, 1),
                    window_hours=round(hours, 1),
                    approximate=count_max is not None or base.participants_max is not None,
                ),
                out,
                occurred_at=now,
            )
    if (
        last is None
        or last.participants != count
        or last.participants_max != count_max
        or last.title != channel.title
        or now - last.taken_at >= SNAPSHOT_EVERY
    ):
        session.add(
            ChannelSnapshot(
                channel_id=channel.id,
                taken_at=now,
                participants=count,
                participants_max=count_max,
                title=channel.title,
                username=channel.username,
                labels=sorted(channel.labels),
            )
        )


async def observe_unavailable(
    session: AsyncSession,
    channel_id: int,
    reason: str,
    detail: str | None,
    now: datetime,
    *,
    answer: str | None = None,
    releases_username: bool = False,
    source: str = ledger.DEFAULT_SOURCE,
) -> Recorded:
    """`releases_username`: Telegram's answer means the channel has no public name any more
    (deleted or private): it is cleared, so that nothing links the channel by a name that
    may lead to another channel now; the event keeps it."""
    channel = await lock_channel(session, channel_id)
    out = Recorded()
    channel.last_checked_at = now
    released = channel.username if releases_username else None
    if released:
        channel.username = None
    # Unreachable already (banned, say) and now found gone: that is news of its own.
    if channel.reachable or (reason != channel.unavailable_reason and releases_username):
        payload = payloads.Unavailable(
            reason=reason, detail=detail, answer=answer, username=released
        )
        await _mark_unavailable(session, channel, payload, now, out)
    channel.retry_count += 1
    await ledger.note_channel(session, channel, source)
    return out


async def learn_id(
    session: AsyncSession,
    channel_id: int,
    tg_id: int,
    now: datetime,
    *,
    access_hash: int | None = None,
    source: str = ledger.DEFAULT_SOURCE,
) -> Channel | None:
    """Telegram's id for a channel watched by name before it was known (the preview shows
    it with the first message; an account resolving the name gets it, with an access hash).

    When that id is already another watched or archived channel's, the name has moved to
    that channel: ours gave it up (told as for any takeover), and no second row is made for
    the other one. None then; else the channel, with its id (learned now or meanwhile)."""
    channel = await lock_channel(session, channel_id)
    if channels.is_pending(channel.tg_id):
        other = await channels.learn_id(session, channel, tg_id)
        if other is not None:
            detail = f"@{channel.username} now belongs to channel {tg_id}"
            await observe_unavailable(
                session, channel_id, USERNAME_RELEASED, detail, now, source=source
            )
            return None
        await ledger.note_channel(session, channel, source)  # the log states the id from now on
    if access_hash and not channel.access_hash and channel.tg_id == tg_id:
        channel.access_hash = access_hash
    return channel


async def _mark_unavailable(
    session: AsyncSession,
    channel: Channel,
    payload: payloads.Unavailable,
    now: datetime,
    out: Recorded,
) -> None:
    if channel.reachable:
        channel.unavailable_since = now
    channel.reachable = False
    channel.unavailable_reason = payload.reason
    channel.revision += 1
    await _event(session, channel, f"r{channel.revision}", payload, out, occurred_at=now)


async def _mark_available(
    session: AsyncSession, channel: Channel, now: datetime, out: Recorded
) -> None:
    since = channel.unavailable_since
    channel.reachable = True
    channel.unavailable_reason = None
    channel.unavailable_since = None
    channel.retry_count = 0
    channel.revision += 1
    hours = round((now - since).total_seconds() / 3600.0, 1) if since is not None else None
    await _event(
        session,
        channel,
        f"r{channel.revision}",
        payloads.Available(unavailable_hours=hours),
        out,
        occurred_at=now,
    )


async def observe_preview(
    session: AsyncSession,
    channel_id: int,
    withheld: bool,
    text: str | None,
    now: datetime,
    *,
    source: str = ledger.DEFAULT_SOURCE,
) -> Recorded:
    """The public web preview withheld (with Telegram's notice) or shown again."""
    channel = await lock_channel(session, channel_id)
    out = Recorded()
    channel.last_checked_at = now
    if withheld != channel.preview_withheld:
        channel.preview_withheld = withheld
        channel.revision += 1
        payload = payloads.PreviewWithheld(text=text) if withheld else payloads.PreviewRestored()
        await _event(session, channel, f"r{channel.revision}", payload, out, occurred_at=now)
    await ledger.note_channel(session, channel, source)
    return out


# --- posts ------------------------------------------------------------------------


async def observe_posts(
    session: AsyncSession,
    channel_id: int,
    posts: Iterable[PostSeen],
    *,
    announce: bool = True,
    cursor: int | None = None,
    source: str = ledger.DEFAULT_SOURCE,
) -> Recorded:
    """Record posts as seen now: new ones, and new versions of edited ones.

    `announce=False` archives without events (the backlog of a newly watched channel).
    `cursor` is set only by a gap-free read of history: it is where the next catch-up
    starts, so a live update for a later post must never move it.
    """
    channel = await lock_channel(session, channel_id)
    out = Recorded()
    now = utcnow()
    batch = sorted(posts, key=lambda p: p.message_id)
    if cursor is not None:
        channel.last_message_id = max(channel.last_message_id, cursor)
    if not batch:
        return out
    existing = {
        p.message_id: p
        for p in await session.scalars(
            select(Post)
            .where(
                Post.channel_id == channel.id, Post.message_id.in_([p.message_id for p in batch])
            )
            .with_for_update(key_share=True)
        )
    }
    fresh: dict[int, PostSeen] = {}
    versions_before = {m: p.version for m, p in existing.items()}
    for seen in batch:
        post = existing.get(seen.message_id)
        if post is None:
            fresh.setdefault(seen.message_id, seen)
        else:
            await _seen_again(session, channel, post, seen, now, announce, out)
        if channel.last_post_at is None or seen.date > channel.last_post_at:
            channel.last_post_at = seen.date
    # What each first sighting showed, worked out once for the post, its version and its record.
    shown = {m: content.details(p) for m, p in fresh.items()}
    if fresh:
        await _new_posts(session, channel, list(fresh.values()), shown, now, announce, out)
    await ledger.note_posts(
        session, channel, fresh.values(), existing.values(), versions_before, source, shown
    )
    return out


async def _new_posts(
    session: AsyncSession,
    channel: Channel,
    batch: list[PostSeen],
    shown: dict[int, dict[str, Any]],
    now: datetime,
    announce: bool,
    out: Recorded,
) -> None:
    """Archive first sightings in a few statements, whatever the size of the batch."""
    rows = [
        {
            "channel_id": channel.id,
            "message_id": p.message_id,
            "grouped_id": p.grouped_id,
            "text": p.text,
            "media_kind": p.media_kind,
            "details": shown[p.message_id],
            "date": p.date,
            # The preview's edit mark has no date: first seen edited stands in for it.
            "edit_date": p.edit_date or (now if p.edited else None),
            "views": p.views,
            "forwards": p.forwards,
            "reactions": p.reactions,
            "version": 1,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for p in batch
    ]
    # Ids are matched by message_id, so the rows need not come back in order: that lets
    # SQLite take the batch in one statement too.
    result = await session.execute(insert(Post).returning(Post.id, Post.message_id), rows)
    ids = {message_id: post_id for post_id, message_id in result.all()}
    await session.execute(
        insert(PostVersion),
        [
            {
                "post_id": ids[p.message_id],
                "version": 1,
                "text": p.text,
                "details": shown[p.message_id],
                "edit_date": p.edit_date or (now if p.edited else None),
                "seen_at": now,
            }
            for p in batch
        ],
    )
    await media.enqueue(
        session,
        (
            media.post_row(channel.id, ids[p.message_id], p.message_id, p.media, now)
            for p in batch
            # The preview's media has no Telegram id to fetch it by.
            if p.media is not None and not p.partial
        ),
    )
    metrics = [
        {
            "post_id": ids[p.message_id],
            "taken_at": now,
            "views": p.views,
            "forwards": p.forwards,
            "reactions": p.reactions,
        }
        for p in batch
        if p.views is not None
    ]
    if metrics:
        await session.execute(insert(PostMetric), metrics)
    out.new_posts += len(batch)
    if not announce:
        return
    # An album is several messages sharing grouped_id: one alert for all of them, told by
    # its first message, with the caption wherever in the album it was written.
    albums: dict[int, list[PostSeen]] = {}
    for p in batch:
        if p.grouped_id:
            albums.setdefault(p.grouped_id, []).append(p)
    events_rows = []
    for p in batch:
        group = albums.get(p.grouped_id) if p.grouped_id else None
        if group is not None and group[0] is not p:
            continue
        text = next((g.text for g in group if g.text), "") if group else p.text
        key = f"g{p.grouped_id}" if group else str(p.message_id)
        payload = payloads.PostNew(
            message_id=p.message_id,
            text=text,
            media_kind="album" if group else p.media_kind,
            grouped_id=p.grouped_id,
            album_size=len(group) if group else None,
            media=_media_info(p.media),
            forwarded_from=p.forward.from_name if p.forward else None,
        )
        events_rows.append(
            events.row(
                channel_id=channel.id,
                dedupe_key=f"{kinds.POST_NEW}:{channel.id}:{key}",
                payload=payload,
                occurred_at=p.date,
                post_id=ids[p.message_id],
                now=now,
            )
        )
    out.event_ids.extend(await events.record_many(session, events_rows))


def _media_info(seen: MediaSeen | dict[str, Any] | None) -> payloads.MediaInfo | None:
    if seen is None:
        return None
    fields = seen if isinstance(seen, dict) else content.details_of_media(seen)
    return payloads.MediaInfo.model_validate(fields)


async def _seen_again(
    session: AsyncSession,
    channel: Channel,
    post: Post,
    seen: PostSeen,
    now: datetime,
    announce: bool,
    out: Recorded,
) -> None:
    post.last_seen_at = now
    # The preview's counters are rounded ("38.2K"): they never replace a full source's.
    if not (seen.partial and not (post.details or {}).get("partial")):
        for name in ("views", "forwards", "reactions"):
            value = getattr(seen, name)
            if value is not None:
                setattr(post, name, value)
    if seen.media_kind and not post.media_kind:
        post.media_kind = seen.media_kind
    # The web preview marks an edit without its date: the time we saw the mark stands in.
    edit_date = seen.edit_date or (now if seen.edited else None)
    if post.edit_date is not None and (
        (seen.edit_date is None and not seen.edited)
        or (seen.edit_date is not None and seen.edit_date < post.edit_date)
    ):
        # Fetched before an edit we already recorded, stored after it: old news, not a revert.
        return
    before_text, before = post.text, post.details or {}
    after = content.merged(before, before_text, seen)
    changed = content.changes(before_text, before, seen.text, after)
    if not changed and seen.edited and post.edit_date is None:
        # A new edit mark over the same text: something the preview does not show changed.
        changed = [content.UNSEEN]
    if not changed:
        # Nothing the post shows is different; a link preview filled in later is kept.
        post.details = after
        if seen.edit_date is not None:
            post.edit_date = seen.edit_date
        return
    post.version += 1
    post.text = seen.text
    post.details = after
    post.media_kind = seen.media_kind if not seen.partial else post.media_kind
    post.edit_date = edit_date or post.edit_date
    session.add(
        PostVersion(
            post_id=post.id,
            version=post.version,
            text=seen.text,
            details=after,
            edit_date=edit_date,
            seen_at=now,
        )
    )
    if seen.media is not None and not seen.partial:
        await media.enqueue(
            session, [media.post_row(channel.id, post.id, post.message_id, seen.media, now)]
        )
    if announce:
        await _event(
            session,
            channel,
            f"{post.message_id}:v{post.version}",
            payloads.PostEdited(
                message_id=post.message_id,
                before=before_text,
                after=seen.text,
                edit_date=edit_date,
                changes=changed,
                links_before=content.link_targets(before.get("entities")),
                links_after=content.link_targets(after.get("entities")),
                media_before=_media_info(before.get("media")),
                media_after=_media_info(after.get("media")),
            ),
            out,
            occurred_at=edit_date or now,
            post_id=post.id,
        )


async def observe_deleted(
    session: AsyncSession,
    channel_id: int,
    message_ids: Iterable[int],
    *,
    mass_at: int = 5,
    source: str = ledger.DEFAULT_SOURCE,
) -> Recorded:
    """Mark archived posts deleted; the archive keeps their text and every version."""
    channel = await lock_channel(session, channel_id)
    out = Recorded()
    ids = sorted(set(message_ids))
    if not ids:
        return out
    now = utcnow()
    gone = (
        await session.scalars(
            select(Post)
            .where(
                Post.channel_id == channel.id, Post.message_id.in_(ids), Post.deleted_at.is_(None)
            )
            .order_by(Post.message_id)
            .with_for_update(key_share=True)
        )
    ).all()
    for post in gone:
        post.deleted_at = now
    # An album deleted together is one alert, told by its first message, with its caption.
    albums: dict[int, list[Post]] = {}
    for post in gone:
        albums.setdefault(post.grouped_id or -post.message_id, []).append(post)
    for group in albums.values():
        first = group[0]
        details = first.details or {}
        key = f"g{first.grouped_id}:{first.message_id}" if len(group) > 1 else str(first.message_id)
        await _event(
            session,
            channel,
            key,
            payloads.PostDeleted(
                message_id=first.message_id,
                text=next((p.text for p in group if p.text), ""),
                date=first.date,
                mass=len(gone) >= mass_at,
                count=len(gone),
                media=_media_info(details.get("media")),
                album_size=len(group) if len(group) > 1 else None,
            ),
            out,
            occurred_at=now,
            post_id=first.id,
        )
    await ledger.note_deleted(session, channel, gone, source)
    return out


async def observe_metrics(
    session: AsyncSession, channel_id: int, metrics: Iterable[MetricsSeen]
) -> int:
    """Refresh counters of recent posts and keep them as a time series; rows written."""
    batch = {m.message_id: m for m in metrics}
    if not batch:
        return 0
    now = utcnow()
    written = 0
    posts = await session.scalars(
        select(Post).where(Post.channel_id == channel_id, Post.message_id.in_(list(batch)))
    )
    for post in posts:
        m = batch[post.message_id]
        if (m.views, m.forwards, m.reactions) == (post.views, post.forwards, post.reactions):
            continue
        post.views = m.views if m.views is not None else post.views
        post.forwards = m.forwards if m.forwards is not None else post.forwards
        post.reactions = m.reactions if m.reactions is not None else post.reactions
        session.add(
            PostMetric(
                post_id=post.id,
                taken_at=now,
                views=post.views,
                forwards=post.forwards,
                reactions=post.reactions,
            )
        )
        written += 1
    return written
