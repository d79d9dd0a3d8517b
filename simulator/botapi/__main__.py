"""``python -m simulator.botapi --port N``: run the simulated Bot API until killed.

Prints the base URL on one line (flushed) once it listens, e.g.
``http://127.0.0.1:8081``; point ``TelegramAPIServer.from_base`` at it and drive
simulated users through ``/control/...`` (see ``simulator.botapi.control``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from simulator.botapi.flood import BotAPILimits
from simulator.botapi.server import BotAPISimulator


def _parser() -> argparse.ArgumentParser:
    defaults = BotAPILimits()
    p = argparse.ArgumentParser(prog="python -m simulator.botapi", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--token", default="123456:TEST")
    p.add_argument("--bot-username", default="chanwatch_bot")
    p.add_argument("--per-chat-per-second", type=float, default=defaults.per_chat_per_second)
    p.add_argument("--per-chat-burst", type=int, default=defaults.per_chat_burst)
    p.add_argument("--overall-per-second", type=float, default=defaults.overall_per_second)
    p.add_argument("--overall-burst", type=int, default=defaults.overall_burst)
    p.add_argument("--per-group-per-minute", type=int, default=defaults.per_group_per_minute)
    p.add_argument("--paid-per-second", type=float, default=defaults.paid_per_second)
    p.add_argument("--paid-burst", type=int, default=defaults.paid_burst)
    p.add_argument(
        "--lenient-ampersand",
        action="store_true",
        help="accept an unescaped &name in HTML as Telegram does",
    )
    return p


async def _serve(args: argparse.Namespace) -> None:
    limits = BotAPILimits(
        per_chat_per_second=args.per_chat_per_second,
        per_chat_burst=args.per_chat_burst,
        overall_per_second=args.overall_per_second,
        overall_burst=args.overall_burst,
        per_group_per_minute=args.per_group_per_minute,
        paid_per_second=args.paid_per_second,
        paid_burst=args.paid_burst,
    )
    sim = BotAPISimulator(
        token=args.token,
        limits=limits,
        bot_username=args.bot_username,
        strict_html_ampersand=not args.lenient_ampersand,
    )
    await sim.start(args.host, args.port)
    print(sim.base_url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
