"""``python -m simulator.mtproto --port N [--seed-script file.json]``

Serves a simulated Telegram world over TCP and prints its address
(``tcp://host:port``) as the first line of stdout. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from .remote import WorldServer, run_script
from .world import World


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m simulator.mtproto", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed-script", help="JSON list of {op, args, kwargs, as} world ops")
    p.add_argument("--seed", type=int, default=0, help="seed for ids and access hashes")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace, seed_ops: list[dict[str, Any]]) -> None:
    world = World(seed=args.seed, latency=args.latency)
    run_script(world, seed_ops)
    server = await WorldServer(world, args.host, args.port).start()
    print(server.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    seed_ops: list[dict[str, Any]] = []
    if args.seed_script:
        with open(args.seed_script, encoding="utf-8") as f:
            seed_ops = json.load(f)
    asyncio.run(_main(args, seed_ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
