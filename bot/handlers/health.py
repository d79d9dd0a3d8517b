"""Moderators: /watched (every watched channel's state) and /status (collectors, the
division of channels, the outbox, media, the last digest, the signing key)."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy import func, select

from bot.config import BotConfig
from bot.handlers.base import fmt_time, labels_text, link, send, send_lines, state_text
from bot.i18n import Translator
from bot.render import esc, file_size
from chanwatch.keys import Signer, pretty
from storage import assignments, channels, media, outbox, status
from storage.db import SessionMaker, database_now
from storage.models import Channel, Delivery, Subscriber
from storage.types import utcnow


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
        division = await assignments.overview(
            s, await database_now(s), config.collector_lease_seconds
        )
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


def get_router() -> Router:
    router = Router(name="health")
    router.message.register(watched, Command("watched", ignore_case=True))
    router.message.register(status_command, Command("status", ignore_case=True))
    return router
