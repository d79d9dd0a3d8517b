"""Moderators: the watch list, health, moderators and bans, broadcasts, the audit log.

Every handler here sits behind `bot.filters.ModeratorOnly` (installed on this router
by `get_routers`), and every change a moderator makes is written to the audit log in
the same transaction as the change itself.
"""

from __future__ import annotations

import asyncio
import html
import logging
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardMarkup, Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import BotConfig, Digests
from bot.handlers.base import (
    ChannelArg,
    ChannelArgument,
    echo,
    find_channel,
    fmt_time,
    handle_error_text,
    labels_text,
    link,
    parse_channel,
    plain,
    send,
    send_lines,
    show,
    split_args,
    state_text,
    toast,
    usage_reply,
)
from bot.handlers.confirm import PressOnce, ask, confirmed, first_press, question
from bot.i18n import Translator
from bot.keyboards import (
    BroadcastCb,
    DigestRunCb,
    UnwatchCb,
    set_chat_menu,
    unwatch_keyboard,
)
from bot.numbers import parse_number, user_id
from bot.render import ChannelRef, EventView, esc, file_size, render_event
from bot.textsplit import truncate, visible_text
from chanwatch.keys import Signer, pretty
from chanwatch.pack import BOT_UPLOAD_LIMIT
from chanwatch.pack import build as build_pack
from collectors.handles import HandleError
from storage import (
    assignments,
    audit,
    channels,
    events,
    kinds,
    locks,
    media,
    outbox,
    status,
    subscribers,
)
from storage.db import SessionMaker, transaction
from storage.models import AuditEntry, Channel, Delivery, Subscriber, WatchRequest
from storage.payloads import Broadcast
from storage.types import utcnow

log = logging.getLogger(__name__)

# How long /watch waits for the collector to resolve the handle, and how often it looks.
WATCH_TIMEOUT = 15.0
WATCH_POLL_INTERVAL = 0.5
EVENTS_DEFAULT = 10
EVENTS_MAX = 30
AUDIT_DEFAULT = 20
AUDIT_MAX = 50
EVENT_LINE_MAX = 160
BROADCAST_PREVIEW_MAX = 3000


def _actor(event: Message | CallbackQuery) -> int:
    return event.from_user.id if event.from_user else 0


# --------------------------------------------------------------------------- watch


async def _wait_for(sessions: SessionMaker, request_id: int) -> tuple[str, Channel | None] | None:
    """The collector's answer to a watch request, or None when it did not come in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WATCH_TIMEOUT
    while True:
        async with sessions() as s:
            req = await s.get(WatchRequest, request_id)
            if req is not None and req.status != "pending":
                channel = await channels.get(s, req.channel_id) if req.channel_id else None
                return req.result_code or "unknown", channel
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(WATCH_POLL_INTERVAL, remaining))


async def watch(
    message: Message, command: CommandObject, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    raw = (command.args or "").strip()
    if not raw:
        await send(message, t.get(lang, "watch-usage"))
        return
    try:
        handle = parse_channel(raw)
    except HandleError as err:
        await send(message, handle_error_text(t, lang, err, raw))
        return
    actor = _actor(message)

    # The channel already watched, or the id of the request the collector answers.
    async def known_or_requested(s: AsyncSession) -> Channel | int:
        known = await find_channel(s, handle)
        # An unreachable channel's name may lead to another channel by now: the collector
        # asks Telegram again instead.
        if known is not None and known.watched and known.reachable:
            return known
        # The same name asked again while the collector is still on it: wait for that one.
        await locks.hold(s, locks.Lock.WATCH_REQUESTS)
        req = await s.scalar(
            select(WatchRequest)
            .where(
                WatchRequest.status == "pending",
                func.lower(WatchRequest.handle) == str(handle).lower(),
            )
            .order_by(WatchRequest.id)
            .limit(1)
        )
        if req is None:
            req = WatchRequest(
                handle=str(handle), requested_by=actor, status="pending", created_at=utcnow()
            )
            s.add(req)
            await s.flush()
        await audit.record(s, actor, "watch", str(handle), {"request_id": req.id})
        return req.id

    found = await transaction(sessions, known_or_requested)
    if isinstance(found, Channel):
        await send(message, t.get(lang, "watch-result", code="already", channel=link(found)))
        return
    request_id = found
    await send(message, t.get(lang, "watch-requested", handle=esc(str(handle))))
    outcome = await _wait_for(sessions, request_id)
    if outcome is None:
        await send(message, t.get(lang, "watch-queued", handle=esc(str(handle))))
        return
    code, answered = outcome
    channel = link(answered) if answered is not None else esc(str(handle))
    await send(message, t.get(lang, "watch-result", code=code, channel=channel))


# --------------------------------------------------------------------------- unwatch


async def unwatch(message: Message, named: ChannelArg | None, t: Translator, lang: str) -> None:
    if named is not None:
        await send(message, *_unwatch_confirmation(t, lang, named.channel))


async def unwatch_choose(
    message: Message, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    """/unwatch without a channel: the watched ones as buttons."""
    async with sessions() as s:
        watched = list(await channels.watched(s))
    if not watched:
        await send(message, t.get(lang, "watched-none"))
        return
    await send(message, t.get(lang, "unwatch-choose"), unwatch_keyboard(t, lang, watched))


def _unwatch_confirmation(
    t: Translator, lang: str, channel: Channel
) -> tuple[str, InlineKeyboardMarkup]:
    text = t.get(lang, "unwatch-confirm", channel=link(channel))
    channel_id = channel.id

    def answer(*, action: str) -> UnwatchCb:
        return UnwatchCb(action=action, channel_id=channel_id)

    return question(t, lang, text, answer, "kb-unwatch-yes")


async def unwatch_pressed(
    query: CallbackQuery,
    callback_data: UnwatchCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    once: PressOnce,
) -> None:
    action, channel_id = callback_data.action, callback_data.channel_id
    if action == "ask":  # a channel chosen from the /unwatch list: the question, once more
        async with sessions() as s:
            channel = await channels.get(s, channel_id)
        if channel is None or not channel.watched:
            await toast(query, t.get(lang, "stale-channel"), alert=True)
            return
        await toast(query)
        await show(query, *_unwatch_confirmation(t, lang, channel))
        return
    if action not in ("yes", "no"):
        await toast(query, t.get(lang, "stale-button"), alert=True)
        return
    if not await confirmed(query, action, once, t, lang, "unwatch-cancelled"):
        return
    actor = _actor(query)

    async def unwatch_channel(s: AsyncSession) -> Channel | None:
        channel = await channels.get(s, channel_id)
        if channel is None or not channel.watched:
            return None
        await channels.unwatch(s, channel)
        await audit.record(
            s, actor, "unwatch", channel.username or str(channel.tg_id), {"channel": channel.id}
        )
        return channel

    channel = await transaction(sessions, unwatch_channel)
    if channel is None:
        await toast(query, t.get(lang, "stale-channel"), alert=True)
        await show(query, t.get(lang, "stale-channel"))
        return
    await toast(query)
    await show(query, t.get(lang, "unwatch-done", channel=link(channel)))


# --------------------------------------------------------------------------- watched / status


def _flood_text(t: Translator, lang: str, data: dict[str, object] | None) -> str:
    waits = (data or {}).get("flood_waits") or {}
    if not isinstance(waits, dict) or not waits:
        return t.get(lang, "flood-none")
    parts = [
        t.get(lang, "flood-item", request=esc(str(kind)), seconds=round(float(secs)))
        for kind, secs in sorted(waits.items())
        if isinstance(secs, int | float)
    ]
    return (
        t.get(lang, "flood-waits", waits=", ".join(parts)) if parts else t.get(lang, "flood-none")
    )


def _collector_line(t: Translator, lang: str, c: assignments.Summary, config: BotConfig) -> str:
    return t.get(
        lang,
        "status-collector-row",
        kind=c.kind,
        name=esc(c.name),
        channels=c.channels,
        joined=c.joined,
        age=round(c.heartbeat_age),
        alive="yes" if c.alive else "no",
        limited=esc(fmt_time(c.limited_until, config.tz, t, lang)) if c.limited_until else "none",
        reason=esc(c.limited_reason or ""),
    )


async def watched(
    message: Message, sessions: SessionMaker, config: BotConfig, t: Translator, lang: str
) -> None:
    async with sessions() as s:
        rows = list(await channels.watched(s))
        reports = await status.collectors(s)
    if not rows:
        await send(message, t.get(lang, "watched-none"))
        return
    lines = [t.get(lang, "watched-header", count=len(rows))]
    for ch in rows:
        labels = labels_text(t, lang, ch)
        title_key = "watched-title-labels" if labels else "watched-title"
        lines.append(t.get(lang, title_key, channel=link(ch), labels=labels))
        post = (
            t.get(
                lang,
                "watched-post",
                id=str(ch.last_message_id),
                time=esc(fmt_time(ch.last_post_at, config.tz, t, lang)),
            )
            if ch.last_message_id
            else t.get(lang, "watched-no-post")
        )
        lines.append(
            t.get(
                lang,
                "watched-details",
                state=state_text(t, lang, ch),
                post=post,
                checked=esc(fmt_time(ch.last_checked_at, config.tz, t, lang)),
                retries=ch.retry_count,
            )
        )
    # Every account's waits in one line (the longest of each kind): the list is about the
    # channels, not the accounts; /status tells the accounts apart.
    waits: dict[str, float] = {}
    for _, row in reports:
        for kind, secs in ((row.data or {}).get("flood_waits") or {}).items():
            waits[kind] = max(waits.get(kind, 0.0), secs)
    lines.append(_flood_text(t, lang, {"flood_waits": waits}))
    await send_lines(message, lines)


async def status_command(
    message: Message,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
    signer: Signer | None = None,
) -> None:
    now = utcnow()
    async with sessions() as s:
        reports = await status.collectors(s)
        queued = await outbox.depth(s)
        files = await media.summary(s)
        downloads = await status.reports(s, status.DOWNLOADS)
        webs = await status.reports(s, status.WEBPREVIEW)
        sent = await s.scalar(
            select(func.count()).where(Delivery.sent_at >= now - timedelta(minutes=1))
        )
        run = await status.last_digest(s)
        n_channels = await s.scalar(select(func.count()).where(Channel.watched.is_(True)))
        n_subscribers = await s.scalar(select(func.count(Subscriber.id)))
        division = await assignments.overview(s, now, config.collector_lease_seconds)
    lines = [t.get(lang, "status-header")]
    if not reports:
        lines.append(t.get(lang, "status-collector-unknown"))
    # One account's lag and flood waits each: collector processes report apart.
    for account, row in reports:
        data = row.data or {}
        lines.append(
            t.get(
                lang,
                "status-collector",
                name=esc(account),
                state="connected" if data.get("connected") else "disconnected",
                updated=esc(fmt_time(row.updated_at, config.tz, t, lang)),
            )
        )
        lag = data.get("lag_seconds")
        lines.append(
            t.get(lang, "status-lag", seconds=round(float(lag)))
            if isinstance(lag, int | float)
            else t.get(lang, "status-lag-unknown")
        )
        lines.append(_flood_text(t, lang, data))
        if unreadable := data.get("unreadable"):
            lines.append(
                t.get(
                    lang,
                    "status-unreadable",
                    count=len(unreadable),
                    channels=esc(", ".join(str(title) for title in unreadable)),
                )
            )
    lines += [_collector_line(t, lang, c, config) for c in division]
    for owner, web in webs:  # one line a process: each has its own request budget
        data = web.data or {}
        lines.append(
            t.get(
                lang,
                "status-webpreview",
                name=esc(owner),
                requests=int(data.get("requests") or 0),
                errors=int(data.get("fetch_errors") or 0),
                backoff=round(float(data.get("backoff_seconds") or 0)),
                updated=esc(fmt_time(web.updated_at, config.tz, t, lang)),
            )
        )
    lines.append(
        t.get(
            lang,
            "status-outbox",
            pending=queued[outbox.Status.PENDING],
            sending=queued[outbox.Status.SENDING],
            failed=queued[outbox.Status.FAILED],
        )
    )
    lines.append(t.get(lang, "status-sends", count=sent or 0))
    if any(count for name, count in files.items() if name != "bytes"):
        lines.append(
            t.get(
                lang,
                "status-media",
                stored=files.get(media.Status.STORED, 0),
                size=esc(file_size(t, lang, files["bytes"])),
                pending=files.get(media.Status.PENDING, 0),
                too_large=files.get(media.Status.TOO_LARGE, 0),
                lost=files.get(media.Status.LOST, 0),
                failed=files.get(media.Status.FAILED, 0),
            )
        )
    if any((row.data or {}).get("full") for _, row in downloads):
        lines.append(t.get(lang, "status-media-full"))
    if run is None:
        lines.append(t.get(lang, "status-digest-none"))
    elif run.completed_at is None:
        lines.append(
            t.get(
                lang,
                "status-digest-running",
                period=esc(run.period_key),
                started=esc(fmt_time(run.started_at, config.tz, t, lang)),
            )
        )
    else:
        lines.append(
            t.get(
                lang,
                "status-digest",
                period=esc(run.period_key),
                completed=esc(fmt_time(run.completed_at, config.tz, t, lang)),
                count=run.subscribers,
            )
        )
    lines.append(
        t.get(lang, "status-counts", channels=n_channels or 0, subscribers=n_subscribers or 0)
    )
    if signer is not None:
        lines.append(
            t.get(lang, "status-key", fingerprint=f"<code>{esc(pretty(signer.fingerprint))}</code>")
        )
    await send_lines(message, lines)


# --------------------------------------------------------------------------- events


def events_count(message: Message, command: CommandObject) -> dict[str, int] | bool:
    """A filter: the number of events /events asks for (or the default); False, so that
    the usage answers before any channel is looked up, when there is no channel or the
    number is not one. (aiogram hands a filter the message first, used or not.)"""
    raw, rest = split_args(command.args)
    if not raw:
        return False
    if not rest.strip():
        return {"count": EVENTS_DEFAULT}
    number = parse_number(rest, 1, EVENTS_MAX)
    return {"count": number} if number is not None else False


async def events_command(
    message: Message,
    named: ChannelArg | None,
    count: int,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    if named is None:
        return
    channel = named.channel
    async with sessions() as s:
        rows = list(await events.recent(s, channel.id, count))
    if not rows:
        await send(message, t.get(lang, "events-none", channel=link(channel)))
        return
    lines = [t.get(lang, "events-header", channel=link(channel), count=len(rows))]
    for event in rows:
        view = EventView.of(event.kind, event.payload, ChannelRef.of(channel), event.occurred_at)
        first = render_event(t, lang, view)[0]
        brief = " ".join(visible_text(first).split())
        lines.append(
            t.get(
                lang,
                "events-line",
                time=esc(fmt_time(event.occurred_at, config.tz, t, lang)),
                text=esc(truncate(brief, EVENT_LINE_MAX)),
            )
        )
    await send_lines(message, lines)


# --------------------------------------------------------------------------- proof packs


def can_sign(message: Message, signer: Signer | None = None) -> bool:
    """A filter: whether there is a key to sign packs with (else /pack answers its usage)."""
    return signer is not None


async def pack_command(
    message: Message,
    named: ChannelArg | None,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
    signer: Signer,
) -> None:
    if named is None:
        return
    channel = named.channel
    name = channel.username or str(channel.tg_id)
    with tempfile.TemporaryDirectory(prefix="chanwatch-pack-") as folder:
        result = await build_pack(
            sessions,
            channel.tg_id,
            signer,
            Path(folder) / f"{name}.zip",
            media_dir=config.media_dir,
            lang=lang if lang in ("en", "ru") else "en",
            tsa_certs=config.tsa_ca_certs,
        )
        if result.size >= BOT_UPLOAD_LIMIT:
            cli = f"chanwatch export @{name} --format pack -o {name}.zip"
            await send(
                message,
                t.get(
                    lang,
                    "pack-too-big",
                    size=round(result.size / 1024 / 1024),
                    command=f"<code>{esc(cli)}</code>",
                ),
            )
            return
        await message.answer_document(
            FSInputFile(result.path, filename=f"{name}.zip"),
            caption=t.get(lang, "pack-caption", records=result.records, media=result.media_files),
        )


# --------------------------------------------------------------------------- moderators and bans


async def mod_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    verb, rest = split_args(command.args)
    verb = verb.lower()
    target = user_id(rest) if rest else None
    if not verb:
        async with sessions() as s:
            granted = [m.chat_id for m in await subscribers.moderators(s)]
        configured = ", ".join(str(i) for i in config.moderator_ids) or "—"
        others = ", ".join(str(i) for i in granted if i not in config.moderator_ids) or "—"
        await send(message, t.get(lang, "mod-list", configured=configured, granted=others))
        return
    if verb not in ("add", "remove") or target is None:
        await send(message, t.get(lang, "mod-usage"))
        return
    actor = _actor(message)
    if verb == "remove" and target in config.moderator_ids:
        await send(message, t.get(lang, "mod-configured", user=str(target)))
        return

    async def change_rights(s: AsyncSession) -> bool:
        if verb == "add":
            changed = await subscribers.grant_moderator(s, target)
        else:
            changed = await subscribers.revoke_moderator(s, target)
        if changed:
            await audit.record(s, actor, f"mod_{verb}", str(target))
        return changed

    changed = await transaction(sessions, change_rights)
    if verb == "add":
        await send(
            message, t.get(lang, "mod-added" if changed else "mod-already", user=str(target))
        )
    else:
        await send(message, t.get(lang, "mod-removed" if changed else "mod-not", user=str(target)))
    if changed:
        await set_chat_menu(bot, t, target, moderator=verb == "add")


async def ban_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    target = user_id(command.args or "")
    if target is None:
        await send(message, t.get(lang, "ban-usage"))
        return
    actor = _actor(message)
    if target == actor:
        await send(message, t.get(lang, "ban-self"))
        return
    if target in config.moderator_ids:
        await send(message, t.get(lang, "ban-configured", user=str(target)))
        return

    async def work(s: AsyncSession) -> tuple[bool, bool]:
        before = await subscribers.by_user(s, target)
        was_moderator = bool(before and before.is_moderator)
        changed = await subscribers.ban(s, target)
        if changed:
            await audit.record(s, actor, "ban", str(target))
        return changed, was_moderator

    changed, was_moderator = await transaction(sessions, work)
    await send(message, t.get(lang, "ban-done" if changed else "ban-already", user=str(target)))
    if was_moderator:
        await set_chat_menu(bot, t, target, moderator=False)


async def unban_command(
    message: Message, command: CommandObject, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    target = user_id(command.args or "")
    if target is None:
        await send(message, t.get(lang, "unban-usage"))
        return
    actor = _actor(message)

    async def work(s: AsyncSession) -> bool:
        changed = await subscribers.unban(s, target)
        if changed:
            await audit.record(s, actor, "unban", str(target))
        return changed

    changed = await transaction(sessions, work)
    await send(message, t.get(lang, "unban-done" if changed else "unban-not", user=str(target)))


# --------------------------------------------------------------------------- broadcast


async def broadcast_command(
    message: Message, command: CommandObject, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    text = plain(command.args or "")
    if not text:
        await send(message, t.get(lang, "broadcast-usage"))
        return
    actor = _actor(message)

    async def work(s: AsyncSession) -> tuple[int, int]:
        preview_id = await audit.record(s, actor, "broadcast_preview", "", {"text": text})
        count = len(await subscribers.reachable(s))
        return preview_id, count

    preview_id, count = await transaction(sessions, work)

    def answer(*, action: str) -> BroadcastCb:
        return BroadcastCb(action=action, preview_id=preview_id)

    body = esc(truncate(text, BROADCAST_PREVIEW_MAX))
    preview = t.get(lang, "broadcast-preview", count=count) + f"\n<blockquote>{body}</blockquote>"
    await ask(message, t, lang, preview, answer, "kb-broadcast-yes")


async def broadcast_pressed(
    query: CallbackQuery,
    callback_data: BroadcastCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    wake_sender: Callable[[], None],
    once: PressOnce,
) -> None:
    if not await first_press(query, once, t, lang):
        return  # the cancel is recorded with the broadcast, in the one transaction below
    preview_id = callback_data.preview_id
    actor = _actor(query)
    decided = ("broadcast_send", "broadcast_cancel")

    async def send_or_cancel(s: AsyncSession) -> tuple[str, int]:
        preview = await audit.get(s, preview_id)
        if preview is None or preview.action != "broadcast_preview":
            return "stale-button", 0
        for action in decided:
            if await audit.find(s, action, str(preview_id)) is not None:
                return "broadcast-already", 0
        if callback_data.action != "yes":
            await audit.record(s, actor, "broadcast_cancel", str(preview_id))
            return "broadcast-cancelled", 0
        raw = str(preview.details.get("text", ""))
        escaped = html.escape(raw, quote=False)
        rendered: dict[str, list[outbox.Part]] = {}
        nobody = ChannelRef(tg_id=0, title="", username=None)
        sent = 0
        for sub in await subscribers.reachable(s):
            if sub.language not in rendered:
                view = EventView(kinds.BROADCAST, Broadcast(text=escaped), nobody, utcnow())
                rendered[sub.language] = outbox.messages(render_event(t, sub.language, view))
            new = await outbox.enqueue(
                s,
                subscriber_id=sub.id,
                chat_id=sub.chat_id,
                kind="broadcast",
                dedupe_key=f"broadcast:{preview_id}:{sub.id}",
                parts=rendered[sub.language],
            )
            sent += new is not None
        await audit.record(s, actor, "broadcast_send", str(preview_id), {"recipients": sent})
        return "broadcast-sent", sent

    outcome, count = await transaction(sessions, send_or_cancel)
    if outcome == "broadcast-sent":
        wake_sender()
    await toast(query, t.get(lang, outcome, count=count), alert=outcome != "broadcast-sent")
    await show(query, t.get(lang, outcome, count=count))


# --------------------------------------------------------------------------- audit


def _audit_line(t: Translator, lang: str, entry: AuditEntry, config: BotConfig) -> str:
    return t.get(
        lang,
        "audit-line",
        time=esc(fmt_time(entry.at, config.tz, t, lang)),
        actor=str(entry.actor_user_id),
        action=entry.action,
        target=echo(entry.target or "", 48),
    )


async def audit_command(
    message: Message,
    command: CommandObject,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    raw = (command.args or "").strip()
    limit = AUDIT_DEFAULT
    if raw:
        number = parse_number(raw, 1, AUDIT_MAX)
        if number is None:
            await send(message, t.get(lang, "audit-usage", max=AUDIT_MAX))
            return
        limit = number
    async with sessions() as s:
        entries = list(await audit.recent(s, limit))
    if not entries:
        await send(message, t.get(lang, "audit-none"))
        return
    lines = [t.get(lang, "audit-header", count=len(entries))]
    lines += [_audit_line(t, lang, e, config) for e in entries]
    await send_lines(message, lines)


# --------------------------------------------------------------------------- digest run


async def digest_run(message: Message, t: Translator, lang: str, digests: Digests | None) -> None:
    if digests is None:
        await send(message, t.get(lang, "digest-unavailable"))
        return
    await ask(message, t, lang, t.get(lang, "digest-run-confirm"), DigestRunCb, "kb-digest-run-yes")


async def digest_run_pressed(
    query: CallbackQuery,
    callback_data: DigestRunCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    wake_sender: Callable[[], None],
    digests: Digests | None,
    once: PressOnce,
) -> None:
    if not await confirmed(query, callback_data.action, once, t, lang, "digest-run-cancelled"):
        return
    await toast(query)
    if digests is None:
        await show(query, t.get(lang, "digest-unavailable"))
        return

    async def opened() -> None:
        await show(query, t.get(lang, "digest-run-started"))

    count = await digests.run_now(opened)
    count = int(count) if isinstance(count, int) else 0
    actor = _actor(query)

    async def record_run(s: AsyncSession) -> None:
        await audit.record(s, actor, "digest_run", "", {"subscribers": count})

    await transaction(sessions, record_run)
    if count:
        wake_sender()
    await show(query, t.get(lang, "digest-run-done", count=count))


def get_router() -> Router:
    router = Router(name="moderator")
    router.message.register(watch, Command("watch", ignore_case=True))
    unwatch_cmd = Command("unwatch", ignore_case=True)
    router.message.register(unwatch, unwatch_cmd, ChannelArgument(unwatched="unwatch-not-watched"))
    router.message.register(unwatch_choose, unwatch_cmd)
    router.callback_query.register(unwatch_pressed, UnwatchCb.filter())
    router.message.register(watched, Command("watched", ignore_case=True))
    router.message.register(status_command, Command("status", ignore_case=True))
    events_cmd = Command("events", ignore_case=True)
    router.message.register(events_command, events_cmd, events_count, ChannelArgument())
    router.message.register(usage_reply("events-usage", max=EVENTS_MAX), events_cmd)
    pack_cmd = Command("pack", ignore_case=True)
    router.message.register(pack_command, pack_cmd, can_sign, ChannelArgument())
    router.message.register(usage_reply("pack-usage"), pack_cmd)
    router.message.register(mod_command, Command("mod", ignore_case=True))
    router.message.register(ban_command, Command("ban", ignore_case=True))
    router.message.register(unban_command, Command("unban", ignore_case=True))
    router.message.register(broadcast_command, Command("broadcast", ignore_case=True))
    router.callback_query.register(broadcast_pressed, BroadcastCb.filter())
    router.message.register(audit_command, Command("audit", ignore_case=True))
    router.message.register(digest_run, Command("digest_run", ignore_case=True))
    router.callback_query.register(digest_run_pressed, DigestRunCb.filter())
    return router
