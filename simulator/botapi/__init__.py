"""Simulated Telegram Bot API server for tests, benchmarks and the demo.

``from simulator.botapi import BotAPISimulator, BotAPILimits``; see
``simulator/FIDELITY_BOTAPI.md`` for what it implements and what it does not.
"""

from simulator.botapi.control import BotAPIControlClient, ControlError
from simulator.botapi.flood import BotAPILimits
from simulator.botapi.server import ApiError, BotAPISimulator, BotAPIStats, SentMessage
from simulator.botapi.text import HtmlParseError, ParsedText, parse_html, utf16_len

__all__ = [
    "ApiError",
    "BotAPIControlClient",
    "BotAPILimits",
    "BotAPISimulator",
    "BotAPIStats",
    "ControlError",
    "HtmlParseError",
    "ParsedText",
    "SentMessage",
    "parse_html",
    "utf16_len",
]
