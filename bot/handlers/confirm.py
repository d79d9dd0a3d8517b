"""The yes/no confirmation every irreversible command asks (/stop, /unwatch, /broadcast,
/digest_run): a question with two buttons, and a press that acts once.

A flow is then only its own words and its own action: `ask` (or `question`, to edit a
message into the question) puts the buttons up; the press handler calls `confirmed`,
which answers a repeated press and "cancel" itself, and acts on a first "yes".
"""

from __future__ import annotations

from typing import Protocol

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.handlers.base import send, show, toast
from bot.i18n import Translator
from bot.keyboards import confirm_keyboard


class Answer(Protocol):
    """The callback data of one of the two buttons (`action` "yes" or "no")."""

    def __call__(self, *, action: str) -> CallbackData: ...


class PressOnce:
    """Confirmation buttons act once per message: a double press (or a client that sends
    the press twice) is answered as a stale button. Kept in memory: one process polls."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: dict[tuple[int, int], None] = {}
        self._size = size

    def first(self, query: CallbackQuery) -> bool:
        message = query.message
        if message is None:
            return True
        key = (message.chat.id, message.message_id)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:  # forget the oldest (dicts keep insertion order)
            del self._seen[next(iter(self._seen))]
        return True


def question(
    t: Translator, lang: str, text: str, answer: Answer, yes_key: str
) -> tuple[str, InlineKeyboardMarkup]:
    """The question's text with its two buttons: `yes_key` and "cancel"."""
    yes, no = answer(action="yes"), answer(action="no")
    return text, confirm_keyboard(t, lang, yes, no, yes_key=yes_key)


async def ask(
    message: Message, t: Translator, lang: str, text: str, answer: Answer, yes_key: str
) -> None:
    await send(message, *question(t, lang, text, answer, yes_key))


async def first_press(query: CallbackQuery, once: PressOnce, t: Translator, lang: str) -> bool:
    """Whether this is the first press under its message; a repeat is answered as stale."""
    if once.first(query):
        return True
    await toast(query, t.get(lang, "stale-button"), alert=True)
    return False


async def confirmed(
    query: CallbackQuery, action: str, once: PressOnce, t: Translator, lang: str, cancelled: str
) -> bool:
    """Whether the caller is to act: a first press of "yes", not answered yet (the caller
    answers it, having acted). Any other press is answered here: a repeat as a stale
    button, "cancel" by turning the question into the `cancelled` text."""
    if not await first_press(query, once, t, lang):
        return False
    if action == "yes":
        return True
    await toast(query)
    await show(query, t.get(lang, cancelled))
    return False
