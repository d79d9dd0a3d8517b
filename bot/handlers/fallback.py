"""What no other handler took: unknown commands, plain text, other content, stale buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.handlers.base import echo, send, show, toast
from bot.i18n import Translator


async def unknown_command(message: Message, t: Translator, lang: str) -> None:
    command = (message.text or "").split(maxsplit=1)[0]
    await send(message, t.get(lang, "unknown-command", command=echo(command, 40)))


async def anything_else(message: Message, t: Translator, lang: str) -> None:
    await send(message, t.get(lang, "unknown-text"))


async def stale_button(query: CallbackQuery, t: Translator, lang: str) -> None:
    """A button this version of the bot does not know (an old keyboard)."""
    await toast(query, t.get(lang, "stale-button"), alert=True)
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await show(query, query.message.html_text or t.get(lang, "stale-button"))


def get_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(anything_else)
    router.callback_query.register(stale_button)
    return router
