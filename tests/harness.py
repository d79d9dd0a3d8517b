"""Shared test plumbing: a real aiogram Bot talking HTTP to the simulated Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot

from chanwatch.telegram import build_bot
from simulator.botapi import BotAPILimits, BotAPISimulator

TOKEN = "123456:TEST-token-for-the-simulator"


def bot_for(sim: BotAPISimulator) -> Bot:
    """The same construction the composition root uses, pointed at the simulator."""
    return build_bot(sim.token, sim.base_url)


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
