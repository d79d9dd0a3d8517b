"""Moderators: moderators and bans, broadcasts, the audit log, a digest run by hand.

Every change a moderator makes is written to the audit log in the same transaction as the
change itself."""

from __future__ import annotations

import html
from collections.abc import Callable

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import BotConfig, Digests
from bot.handlers.base import (
    actor_id,
    echo,
    fmt_time,
    plain,
    send,
    send_lines,
    show,
    split_args,
    toast,
)
from bot.handlers.confirm import PressOnce, ask, confirmed, first_press
from bot.i18n import Translator
from bot.keyboards import BroadcastCb, DigestRunCb, set_chat_menu
from bot.numbers import parse_number, user_id
from bot.render import ChannelRef, EventView, esc, render_event
from bot.textsplit import truncate
from storage import audit, kinds, outbox, subscribers
from storage.db import SessionMaker, transaction
from storage.models import AuditEntry
from storage.payloads import Broadcast
from storage.types import utcnow

AUDIT_DEFAULT = 20
AUDIT_MAX = 50
BROADCAST_PREVIEW_MAX = 3000


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
    actor = actor_id(message)
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
    actor = actor_id(message)
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
    actor = actor_id(message)

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
    actor = actor_id(message)

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
    actor = actor_id(query)
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
    actor = actor_id(query)

    async def record_run(s: AsyncSession) -> None:
        await audit.record(s, actor, "digest_run", "", {"subscribers": count})

    await transaction(sessions, record_run)
    if count:
        wake_sender()
    await show(query, t.get(lang, "digest-run-done", count=count))


def get_router() -> Router:
    router = Router(name="moderator")
    router.message.register(mod_command, Command("mod", ignore_case=True))
    router.message.register(ban_command, Command("ban", ignore_case=True))
    router.message.register(unban_command, Command("unban", ignore_case=True))
    router.message.register(broadcast_command, Command("broadcast", ignore_case=True))
    router.callback_query.register(broadcast_pressed, BroadcastCb.filter())
    router.message.register(audit_command, Command("audit", ignore_case=True))
    router.message.register(digest_run, Command("digest_run", ignore_case=True))
    router.callback_query.register(digest_run_pressed, DigestRunCb.filter())
    return router
