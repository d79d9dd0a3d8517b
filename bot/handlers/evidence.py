"""Moderators: what the archive holds about a channel — /events (its latest events) and
/pack (its proof pack, sent as a document under the Bot API's upload limit)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import FSInputFile, Message

from bot.config import BotConfig
from bot.handlers.base import (
    ChannelArg,
    ChannelArgument,
    fmt_time,
    link,
    send,
    send_lines,
    split_args,
    usage_reply,
)
from bot.i18n import Translator
from bot.numbers import parse_number
from bot.render import ChannelRef, EventView, esc, render_event
from bot.textsplit import truncate, visible_text
from chanwatch.keys import Signer
from chanwatch.pack import BOT_UPLOAD_LIMIT
from chanwatch.pack import build as build_pack
from storage import events
from storage.db import SessionMaker

EVENTS_DEFAULT = 10
EVENTS_MAX = 30
EVENT_LINE_MAX = 160


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


def get_router() -> Router:
    router = Router(name="evidence")
    events_cmd = Command("events", ignore_case=True)
    router.message.register(events_command, events_cmd, events_count, ChannelArgument())
    router.message.register(usage_reply("events-usage", max=EVENTS_MAX), events_cmd)
    pack_cmd = Command("pack", ignore_case=True)
    router.message.register(pack_command, pack_cmd, can_sign, ChannelArgument())
    router.message.register(usage_reply("pack-usage"), pack_cmd)
    return router
