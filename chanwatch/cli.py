"""`chanwatch` command line: every problem a user can cause is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from chanwatch.settings import Settings, SettingsError, load_settings

EXIT_USAGE = 2
EXIT_FAIL = 1


class CliError(Exception):
    """A user-facing failure: printed as one line, exit 1."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chanwatch",
        description="Watch public Telegram channels and tell people what happened to them.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run collector, bot, delivery and scheduler (migrates first)")
    demo = sub.add_parser(
        "demo", help="a scripted week against the simulated Telegram, no credentials"
    )
    demo.add_argument(
        "--collector",
        choices=("telethon", "web"),
        default="telethon",
        help="read the simulated Telegram with an account (telethon) or its t.me/s pages (web)",
    )
    sub.add_parser("login", help="log the collector's Telegram account in (writes the session)")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations")
    db_sub.add_parser("current", help="show the applied migration")
    ch = sub.add_parser("channels", help="the watch list")
    ch_sub = ch.add_subparsers(dest="channels_command", required=True, metavar="ACTION")
    add = ch_sub.add_parser("add", help="watch a channel (@name, t.me link or id)")
    add.add_argument("handle")
    ch_sub.add_parser("list", help="list watched channels")
    rm = ch_sub.add_parser("remove", help="stop watching (the archive stays)")
    rm.add_argument("handle")
    ex = sub.add_parser("export", help="export a channel's posts and events")
    ex.add_argument("channel", help="@username or Telegram id of a channel in the database")
    ex.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    ex.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        return asyncio.run(_dispatch(args, settings))
    except SettingsError as exc:
        print(f"chanwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"chanwatch: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Quietly, as `cat` does; stdout is closed, so point it at nothing before exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import DatabaseUnavailable

    handlers: dict[str, Callable[[argparse.Namespace, Settings], Awaitable[int]]] = {
        "run": _run,
        "demo": _demo,
        "login": _login,
        "db": _db,
        "channels": _channels,
        "export": _export,
    }
    try:
        return await handlers[args.command](args, settings)
    except DatabaseUnavailable as exc:
        raise CliError(f"database unavailable: {exc}") from None
    except BrokenPipeError:
        raise  # the reader of our output went away (e.g. `| head`): not a database problem
    except (ConnectionError, TimeoutError) as exc:
        raise CliError(f"database unavailable: {exc}") from None
    except OSError as exc:
        if "connect" in str(exc).lower():
            raise CliError(f"database unavailable: {exc}") from None
        raise


async def _engine(settings: Settings) -> Any:
    from storage.db import create_engine, ensure_sqlite_dir
    from storage.migrate import upgrade

    ensure_sqlite_dir(settings.database_url)
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    return engine


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from storage.migrate import current_revision

    engine = await _engine(settings)
    try:
        revision = await current_revision(engine)
    finally:
        await engine.dispose()
    print(f"database at revision {revision}")
    return 0


async def _channels(args: argparse.Namespace, settings: Settings) -> int:
    from storage import channels
    from storage.db import session_factory, transaction

    engine = await _engine(settings)
    sessions = session_factory(engine)
    try:
        if args.channels_command == "list":
            async with sessions() as s:
                rows = await channels.watched(s)
            for ch in rows:
                labels = ",".join(sorted(ch.labels)) or "-"
                state = "reachable" if ch.reachable else f"unavailable:{ch.unavailable_reason}"
                print(f"{ch.tg_id}\t@{ch.username or '-'}\t{ch.title}\t{labels}\t{state}")
            if not rows:
                print("no channels are watched; add one with: chanwatch channels add @name")
            return 0
        if args.channels_command == "remove":

            async def work(s: Any) -> str | None:
                ch = await channels.find(s, args.handle.strip())
                if ch is None or not ch.watched:
                    return None
                await channels.unwatch(s, ch)
                return ch.title

            title = await transaction(sessions, work)
            if title is None:
                raise CliError(f"{args.handle!r} is not a watched channel")
            print(f"no longer watching {title} (its archive stays)")
            return 0
        return await _channels_add(args, settings, sessions)
    finally:
        await engine.dispose()


async def _channels_add(args: argparse.Namespace, settings: Settings, sessions: Any) -> int:
    from chanwatch.telegram import build_client
    from collectors.collector import Collector, Deferred
    from collectors.handles import HandleError, parse_handle

    try:
        parse_handle(args.handle)
    except HandleError as exc:
        raise CliError(f"{args.handle!r} is not a public channel handle ({exc.code})") from None
    if settings.collector_kind == "web":
        return await _channels_add_web(args, settings, sessions)
    if settings.missing_telegram_credentials():
        missing = [m for m in settings.missing_telegram_credentials() if m != "BOT_TOKEN"]
        if missing:
            raise CliError(f"resolving a channel needs {', '.join(missing)} (see .env.example)")
    client = build_client(settings)
    await client.connect()
    try:
        collector = Collector(client, sessions)
        try:
            channel, code = await collector.watch(args.handle, None)
        except Deferred as exc:
            raise CliError(f"Telegram asks to wait {exc.seconds:.0f}s before resolving") from None
    finally:
        await client.disconnect()
    return _added(args, channel, code)


async def _channels_add_web(args: argparse.Namespace, settings: Settings, sessions: Any) -> int:
    import aiohttp

    from chanwatch.app import build_web_collector
    from collectors.base import Deferred

    async with aiohttp.ClientSession() as http:
        collector = build_web_collector(settings, sessions, http)
        try:
            channel, code = await collector.watch(args.handle, None)
        except Deferred as exc:
            raise CliError(f"t.me asks to wait {exc.seconds:.0f}s; try again later") from None
    return _added(args, channel, code)


def _added(args: argparse.Namespace, channel: Any, code: str) -> int:
    if channel is None:
        raise CliError(f"cannot watch {args.handle!r}: {code}")
    print(
        f"{'now watching' if code == 'added' else 'already watching'} {channel.title} "
        f"(id {channel.tg_id})"
    )
    return 0


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from storage import channels, export
    from storage.db import session_factory

    engine = await _engine(settings)
    try:
        async with session_factory(engine)() as s:
            channel = await channels.find(s, args.channel.strip())
            if channel is None:
                raise CliError(f"no channel {args.channel!r} in the database")
            if args.output:
                with args.output.open("w", encoding="utf-8", newline="") as out:
                    count = await export.write(s, channel, args.format, out)
                print(f"wrote {count} records to {args.output}", file=sys.stderr)
            else:
                await export.write(s, channel, args.format, sys.stdout)
    finally:
        await engine.dispose()
    return 0


async def _login(args: argparse.Namespace, settings: Settings) -> int:
    from chanwatch.telegram import build_client

    missing = [m for m in settings.missing_telegram_credentials() if m != "BOT_TOKEN"]
    if missing:
        raise CliError(f"login needs {', '.join(missing)} (get them at my.telegram.org)")
    client = build_client(settings)
    await client.start()  # Telethon asks for the phone number and code on the terminal
    me = await client.get_me()
    await client.disconnect()
    print(
        f"logged in as {getattr(me, 'username', None) or getattr(me, 'id', '?')}; "
        f"session saved to {settings.telethon_session}"
    )
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    missing = settings.missing_telegram_credentials()
    if missing:
        raise CliError(
            f"missing {', '.join(missing)}: set them in .env (see .env.example), "
            "or try `chanwatch demo`, which needs no credentials"
        )
    from chanwatch.app import NotLoggedIn, run

    try:
        await run(settings)
    except NotLoggedIn as exc:
        raise CliError(str(exc)) from None
    return 0


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from chanwatch.demo import DemoError, run_demo

    try:
        await run_demo(settings, collector=args.collector)
    except DemoError as exc:
        raise CliError(f"the demo stalled: {exc}") from None
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
