"""Build the two Telegram clients: Telethon (MTProto) and the aiogram Bot (Bot API).

Either talks to real Telegram, or to the simulated one where settings point there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from telethon import TelegramClient

from chanwatch.secrets import private_session_path
from chanwatch.settings import Settings

# TelegramClient's keyword arguments (Any: Telethon ships no types to check them against).
CLIENT_OPTIONS: Mapping[str, Any] = {
    # We catch up ourselves from the stored cursor; Telethon's catch_up is not relied on.
    "catch_up": False,
    "flood_sleep_threshold": 0,
    "receive_updates": True,
    # One update at a time, in order: an edit must not overtake the post it edits.
    "sequential_updates": True,
    "auto_reconnect": True,
    "connection_retries": -1,
    "retry_delay": 2,
    "device_model": "chanwatch",
    "app_version": "0.1",
}


def build_client(settings: Settings) -> TelegramClient:
    if settings.mtproto_simulator:
        # The simulated Telegram replaces only the network: the client is Telethon's own.
        from simulator.mtproto import make_simulated_client

        address = settings.mtproto_simulator
        if "://" not in address:
            address = f"tcp://{address}"
        # Each session is its own simulated account, as each is its own Telegram account.
        account = (
            settings.telethon_session.stem
            if "telethon_session" in settings.model_fields_set
            else "collector"
        )
        return make_simulated_client(address, account=account, **CLIENT_OPTIONS)
    assert settings.telegram_api_id is not None and settings.telegram_api_hash is not None
    session = private_session_path(settings.telethon_session)
    return TelegramClient(
        str(session),
        settings.telegram_api_id,
        settings.telegram_api_hash.get_secret_value(),
        **CLIENT_OPTIONS,
    )


def build_bot(token: str, base_url: str = "https://api.telegram.org") -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(base_url))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
