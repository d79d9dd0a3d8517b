"""Shared test plumbing: a real aiogram Bot talking HTTP to the simulated Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from simulator.botapi import BotAPILimits, BotAPISimulator

TOKEN = "123456:TEST-token-for-the-simulator"


def bot_for(sim: BotAPISimulator) -> Bot:
    """The same construction the composition root uses, pointed at the simulator."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(sim.base_url))
    return Bot(sim.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


@asynccontextmanager
async def simulated_bot(
    limits: BotAPILimits | None = None,
) -> AsyncIterator[tuple[BotAPISimulator, Bot]]:
    sim = BotAPISimulator(token=TOKEN, limits=limits)
    await sim.start()
    bot = bot_for(sim)
    try:
        yield sim, bot
    finally:
        await bot.session.close()
        await sim.stop()
