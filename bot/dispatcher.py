"""The bot's composition: middlewares, routers and the dependencies handlers receive.

The composition root builds the objects and calls `build_dispatcher(...)`; nothing
here is created at import time. Handlers receive, as workflow data:

* ``sessions`` — the SQLAlchemy session factory (writes go through ``storage.db.transaction``)
* ``t`` — the :class:`bot.i18n.Translator`
* ``config`` — :class:`bot.config.BotConfig`, the few settings handlers use
* ``wake_sender`` — called after something was put in the outbox
* ``digests`` — the digest service (:class:`bot.config.Digests`), or None when it is not running
* ``signer`` — the installation's signing key (proof packs), or None

and, from the middlewares, ``subscriber`` (the chat's row or None) and ``lang``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from aiogram import Bot, Dispatcher
from aiogram.types import ErrorEvent, Update

from bot.config import BotConfig, Digests
from bot.filters import GroupAdminsOnly
from bot.handlers import get_routers
from bot.handlers.base import send, toast
from bot.handlers.confirm import PressOnce
from bot.i18n import Translator
from bot.keyboards import set_chat_menu, set_default_menu
from bot.middlewares import SubscriberContext, TargetContext, Throttle
from storage.db import DatabaseUnavailable, SessionMaker

__all__ = ["build_dispatcher", "set_commands"]

log = logging.getLogger(__name__)


def build_dispatcher(
    *,
    sessions: SessionMaker,
    translator: Translator,
    config: BotConfig,
    wake_sender: Callable[[], None],
    digests: Digests | None = None,
    signer: object | None = None,
    throttle_rate: float = 1.0,
    throttle_burst: int = 5,
) -> Dispatcher:
    """A Dispatcher with every handler, ready for ``start_polling``.

    ``throttle_rate``/``throttle_burst``: each user may send ``throttle_burst`` updates
    at once, refilled at ``throttle_rate`` per second; beyond that one "slow down"
    reply and silence.
    """
    dp = Dispatcher(
        sessions=sessions,
        t=translator,
        config=config,
        wake_sender=wake_sender,
        digests=digests,
        once=PressOnce(),
        signer=signer,
    )
    throttle = Throttle(rate=throttle_rate, burst=throttle_burst)
    context = SubscriberContext()
    group_admins = GroupAdminsOnly()
    for observer in (dp.message, dp.callback_query):
        observer.outer_middleware(throttle)
        observer.outer_middleware(context)
        observer.outer_middleware(group_admins)
    dp.message.outer_middleware(TargetContext())
    dp.include_routers(*get_routers())
    dp.errors.register(_on_error)
    return dp


async def _on_error(event: ErrorEvent, t: Translator) -> bool:
    """Log the failure and tell the user something went wrong; never let it escape."""
    exc = event.exception
    unavailable = isinstance(exc, DatabaseUnavailable)
    if unavailable:
        log.warning(
            "database unavailable while handling update %s: %s", event.update.update_id, exc
        )
    else:
        log.error("handler failed on update %s", event.update.update_id, exc_info=exc)
    key = "error-busy" if unavailable else "error-generic"
    update: Update = event.update
    try:
        if update.message is not None:
            user = update.message.from_user
            lang = t.pick(user.language_code if user else None)
            if update.message.chat.type == "private":
                await send(update.message, t.get(lang, key))
        elif update.callback_query is not None:
            query = update.callback_query
            lang = t.pick(query.from_user.language_code)
            await toast(query, t.get(lang, key), alert=True)
    except Exception:  # the error path must not raise in turn
        log.exception("could not report the failure to the user")
    return True


async def set_commands(bot: Bot, translator: Translator, moderator_chat_ids: Iterable[int]) -> None:
    """Command menus per scope: the subscribers' menu for every chat (default scope, one
    per language), and in each moderator's chat the moderators' commands as well."""
    await set_default_menu(bot, translator)
    for chat_id in moderator_chat_ids:
        await set_chat_menu(bot, translator, chat_id, moderator=True)
