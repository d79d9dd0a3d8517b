"""`chanwatch` command line: every problem a user can cause is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from chanwatch.lazytypes import import_aiogram
from chanwatch.settings import Settings, SettingsError, load_settings

EXIT_USAGE = 2
# A session's name becomes a file name in the session folder.
SESSION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
EXIT_FAIL = 1


class CliError(Exception):
    """A user-facing failure: printed as one line, exit 1."""


class UsageError(CliError):
    """A wrong argument: printed as one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chanwatch",
        description="Watch public Telegram channels and tell people what happened to them.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run collector, bot, delivery and scheduler (migrates first)")
    run.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="run only these parts: all (default), collector, bot, router, sender, digest "
        "(repeatable); each role can be a process of its own on one PostgreSQL",
    )
    demo = sub.add_parser(
        "demo", help="a scripted week against the simulated Telegram, no credentials"
    )
    demo.add_argument(
        "--collector",
        choices=("telethon", "web"),
        default="telethon",
        help="read the simulated Telegram with an account (telethon) or its t.me/s pages (web)",
    )
    login = sub.add_parser(
        "login", help="log the collector's Telegram account in (writes the session)"
    )
    login.add_argument(
        "--session",
        metavar="NAME",
        help="write the session file NAME.session in the session folder (one per account; "
        "TELETHON_SESSION=<folder>/NAME.session selects it)",
    )
    sub.add_parser(
        "status", help="each part's last report, outbox, flood waits, last digest (exit 1 if stale)"
    )
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
    rm.add_argument("handle", help="@username, t.me link or Telegram id")
    ex = sub.add_parser("export", help="export a channel's posts and events")
    ex.add_argument("channel", help="@username, t.me link or Telegram id of a channel")
    ex.add_argument("--format", choices=("jsonl", "csv", "pack"), default="jsonl")
    ex.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    ex.add_argument("--force", action="store_true", help="replace the output file if it exists")
    ex.add_argument("--since", type=_day, help="pack: first UTC day (YYYY-MM-DD)")
    ex.add_argument("--until", type=_day, help="pack: last UTC day (YYYY-MM-DD)")
    ex.add_argument(
        "--lang", choices=("en", "ru"), default="en", help="pack: language of index.html"
    )
    ve = sub.add_parser("verify", help="check a proof pack offline, or the database's log")
    ve.add_argument("pack", nargs="?", type=Path, help="proof pack ZIP (or unpacked folder)")
    ve.add_argument("--db", action="store_true", help="check the database's log and stored state")
    ve.add_argument("--tsa-cert", action="append", type=Path, default=[], help="TSA CA (PEM)")
    ve.add_argument("--key", help="expected signing key fingerprint")
    sub.add_parser("key", help="print the signing key's public key and fingerprint")
    return p


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


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
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Quietly, as `cat` does; stdout is closed, so point it at nothing before exit.
        _drop_stdout()
        return 141
    except StdoutError as exc:
        _drop_stdout()
        print(f"chanwatch: cannot write to standard output ({exc})", file=sys.stderr)
        return EXIT_FAIL


class StdoutError(Exception):
    """Standard output refused our writes (a full disk, /dev/full)."""


def _drop_stdout() -> None:
    # Python flushes stdout again at exit; with nothing left to flush it stays quiet.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    import socket

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from chanwatch.secrets import SessionPathError
    from storage.db import DatabaseDamaged, DatabaseReadOnly, DatabaseUnavailable, classify
    from storage.migrate import SchemaTooNew

    handlers: dict[str, Callable[[argparse.Namespace, Settings], Awaitable[int]]] = {
        "run": _run,
        "demo": _demo,
        "login": _login,
        "db": _db,
        "channels": _channels,
        "export": _export,
        "status": _status,
        "verify": _verify,
        "key": _key,
    }
    try:
        return await handlers[args.command](args, settings)
    except (DatabaseUnavailable, DatabaseReadOnly, DatabaseDamaged) as exc:
        if isinstance(exc.__cause__, DBAPIError):
            known = classify(exc.__cause__, settings.database_url)
            if known is not None:
                raise CliError(str(known)) from None
        prefix = (
            "" if isinstance(exc, DatabaseReadOnly | DatabaseDamaged) else "database unavailable: "
        )
        raise CliError(f"{prefix}{exc}") from None
    except (SchemaTooNew, SessionPathError) as exc:
        raise CliError(str(exc)) from None
    except DBAPIError as exc:
        known = classify(exc, settings.database_url)
        if known is None:
            raise
        raise CliError(str(known)) from None
    except BrokenPipeError:
        raise  # the reader of our output went away (e.g. `| head`): not a database problem
    except socket.gaierror as exc:
        host = make_url(settings.database_url).host
        raise CliError(f"database host {host!r} cannot be resolved ({exc.strerror})") from None
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
    from storage.db import create_engine, sqlite_path
    from storage.migrate import current_revision

    if args.db_command == "upgrade":
        engine = await _engine(settings)
    else:
        # Only look: a mistyped path must not become a new, empty database.
        path = sqlite_path(settings.database_url)
        if path is not None and not path.is_file():
            raise CliError(
                f"no database at {path} (DATABASE_URL); `chanwatch db upgrade` makes one"
            )
        engine = create_engine(settings.database_url)
    try:
        revision = await current_revision(engine)
    finally:
        await engine.dispose()
    if revision is None:
        print("database has no migration applied; run `chanwatch db upgrade`")
    else:
        print(f"database at revision {revision}")
    return 0


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    """What the running chanwatch last stored about itself; exit 1 when a part is stale."""
    from chanwatch.supervise import STATUS_PREFIX, is_stale, shown_part
    from storage import assignments, outbox, status
    from storage.db import database_now, session_factory
    from storage.types import utcnow

    engine = await _engine(settings)
    try:
        async with session_factory(engine)() as s:
            parts = await status.with_prefix(s, STATUS_PREFIX)
            reports = await status.collectors(s)
            depth = await outbox.depth(s)
            digest = await status.last_digest(s)
            now = utcnow()
            division = await assignments.overview(
                s, await database_now(s), settings.collector_lease_seconds
            )
    finally:
        await engine.dispose()
    stale = []
    if not parts:
        print("parts: none reported yet (is `chanwatch run` running on this database?)")
    for row in parts:
        name, data = shown_part(row.name), row.data or {}
        bad = is_stale(data, now)
        stale += [name] if bad else []
        beat = data.get("last_beat") or "never"
        line = (
            f"part {name}: {'STALE' if bad else 'ok'} ({data.get('state')}), last progress "
            f"{beat}, expected every {data.get('interval')}s, restarts {data.get('restarts', 0)}"
        )
        if data.get("last_error"):
            line += f", last error {data.get('last_error_at')}: {data['last_error']}"
        print(line)
    for account, row in reports:
        report = row.data or {}
        waits = report.get("flood_waits") or {}
        print(
            f"collector {account}: "
            f"{'connected' if report.get('connected') else 'disconnected'}, "
            f"lag {report.get('lag_seconds')}s, flood waits "
            + (", ".join(f"{k} {v}s" for k, v in waits.items()) or "none")
            + f", reported {row.updated_at.isoformat()}"
            + (
                f"; cannot read (no access hash, no name that resolves): {', '.join(unreadable)}"
                if (unreadable := report.get("unreadable"))
                else ""
            )
        )
    for held in division:
        line = (
            f"collector {held.kind} {held.name}: {held.channels} channels, {held.joined} joined "
            f"(cap {held.join_cap}), heartbeat {held.heartbeat_age:.0f}s ago"
        )
        if not held.alive:
            line += " (not alive: its channels are taken over)"
        if held.limited_until is not None:
            line += f", limited until {held.limited_until.isoformat()} ({held.limited_reason})"
        print(line)
    print(
        f"outbox: {depth[outbox.Status.PENDING]} pending, "
        f"{depth[outbox.Status.SENDING]} sending, {depth[outbox.Status.FAILED]} failed"
    )
    if digest is None:
        print("last digest: none yet")
    else:
        done = digest.completed_at.isoformat() if digest.completed_at else "not finished"
        print(
            f"last digest: {digest.period_key}, started {digest.started_at.isoformat()}, "
            f"completed {done}, {digest.subscribers} subscribers"
        )
    return 1 if stale or not parts else 0


async def _find(sessions: Any, raw: str) -> Any:
    """A channel in the database by @name, t.me link or Telegram id (never our row id)."""
    from collectors.handles import HandleError, parse_handle
    from storage import channels

    try:
        handle = parse_handle(raw)
    except HandleError as exc:
        raise CliError(
            f"{raw!r} is not a channel (@name, t.me link or Telegram id): {exc.code}"
        ) from None
    async with sessions() as s:
        return await channels.find(s, handle.username or handle.tg_id or 0)


async def _channels(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage import channels
    from storage.db import session_factory, transaction

    engine = await _engine(settings)
    sessions = session_factory(engine)
    try:
        if args.channels_command == "list":
            async with sessions() as s:
                rows = await channels.watched(s)
            for channel in rows:
                labels = ",".join(sorted(channel.labels)) or "-"
                state = (
                    "reachable"
                    if channel.reachable
                    else f"unavailable:{channel.unavailable_reason}"
                )
                print(
                    f"{channel.tg_id}\t@{channel.username or '-'}\t{channel.title}\t"
                    f"{labels}\t{state}"
                )
            if not rows:
                print("no channels are watched; add one with: chanwatch channels add @name")
            return 0
        if args.channels_command == "remove":
            found = await _find(sessions, args.handle)

            async def unwatch(s: AsyncSession) -> str | None:
                channel = await channels.get(s, found.id) if found is not None else None
                if channel is None or not channel.watched:
                    return None
                await channels.unwatch(s, channel)
                return channel.title

            title = await transaction(sessions, unwatch)
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
    from collectors.flood import Deferred

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
    from storage import export
    from storage.db import session_factory

    target = _export_target(args.output, args.force) if args.output else None
    if args.format == "pack":
        return await _export_pack(args, settings)
    engine = await _engine(settings)
    try:
        sessions = session_factory(engine)
        channel = await _find(sessions, args.channel)
        if channel is None:
            raise CliError(f"no channel {args.channel!r} in the database")
        async with sessions() as s:
            if args.output:
                count = await _write_file(
                    args.output, target, lambda out: export.write(s, channel, args.format, out)
                )
                print(f"wrote {count} records to {args.output}", file=sys.stderr)
            else:
                try:
                    await export.write(s, channel, args.format, sys.stdout)
                    sys.stdout.flush()
                except BrokenPipeError:
                    raise
                except OSError as exc:
                    raise StdoutError(exc.strerror or str(exc)) from None
    finally:
        await engine.dispose()
    return 0


def _export_target(path: Path, force: bool) -> Path | None:
    """Check the output path before any work; the folder for a temporary file, or None
    where the file is written in place (a device such as /dev/null)."""
    if path.is_dir():
        raise CliError(f"{path} is a folder: give a file name, e.g. {path / 'export.jsonl'}")
    if not path.parent.is_dir():
        raise CliError(f"cannot write {path}: the folder {path.parent} is missing")
    if path.exists() and not path.is_file():
        return None
    if path.exists() and not force:
        raise CliError(f"{path} exists: add --force to replace it")
    return path.parent


async def _write_file(
    path: Path, folder: Path | None, write: Callable[[Any], Awaitable[int]]
) -> int:
    """Write through a temporary file renamed over `path` at the end: a failure leaves
    no partial file and the old one as it was."""
    import tempfile

    tmp: Path | None = None
    try:
        if folder is None:
            with path.open("w", encoding="utf-8", newline="") as out:
                return await write(out)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = await write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; an export is an ordinary file
        os.replace(tmp, path)
        tmp = None
        return count
    except OSError as exc:
        raise CliError(f"cannot write {path} ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _signer(settings: Settings) -> Any:
    from chanwatch.keys import SigningKeyError, load_or_create

    try:
        return load_or_create(settings.signing_key_path)
    except (SigningKeyError, OSError) as exc:
        raise CliError(str(exc)) from None


async def _export_pack(args: argparse.Namespace, settings: Settings) -> int:
    from chanwatch.pack import PackFailed, build
    from chanwatch.tsa import Timestamper
    from storage.db import session_factory

    if args.output is None:
        raise CliError("a pack is a ZIP file: give it a name with -o NAME.zip")
    signer = _signer(settings)
    engine = await _engine(settings)
    sessions = session_factory(engine)
    try:
        channel = await _find(sessions, args.channel)
        if channel is None:
            raise CliError(f"no channel {args.channel!r} in the database")
        result = await build(
            sessions,
            channel.tg_id,
            signer,
            args.output,
            media_dir=settings.media_dir,
            since=args.since,
            until=args.until,
            lang=args.lang,
            tsa_certs=settings.tsa_ca_certs,
            # Where TSAs are configured the pack's checkpoints are timestamped first.
            timestamper=Timestamper(sessions, settings.tsa_urls) if settings.tsa_urls else None,
        )
    except PackFailed as exc:
        raise CliError(str(exc)) from None
    finally:
        await engine.dispose()
    print(
        f"wrote {result.path}: {result.records} records, {result.media_files} media files, "
        f"{result.size} bytes",
        file=sys.stderr,
    )
    return 0


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from chanwatch import proofcheck

    if args.db:
        return await _verify_db(settings)
    if args.pack is None:
        raise CliError("give a pack to check (chanwatch verify NAME.zip) or --db")
    if args.key is not None or not settings.signing_key_path.exists():
        return proofcheck.run(args.pack, args.tsa_cert, args.key)
    # On the installation itself its own key is the one a pack must carry: a pack
    # re-signed with another key fails here without anyone comparing fingerprints.
    from chanwatch.keys import SigningKeyError, load

    try:
        own = load(settings.signing_key_path).fingerprint
    except (SigningKeyError, OSError) as exc:
        raise CliError(str(exc)) from None
    where = f"this installation's key, SIGNING_KEY_PATH={settings.signing_key_path}"
    return proofcheck.run(args.pack, args.tsa_cert, own, where)


async def _verify_db(settings: Settings) -> int:
    from storage import ledger
    from storage.db import session_factory

    engine = await _engine(settings)
    try:
        async with session_factory(engine)() as s:
            problems, count = await ledger.check_db(s)
    finally:
        await engine.dispose()
    for problem in problems:
        print(f"FAIL: {problem}")
    print(
        f"{count} log records checked: " + ("OK" if not problems else f"{len(problems)} problems")
    )
    return 0 if not problems else EXIT_FAIL


async def _key(args: argparse.Namespace, settings: Settings) -> int:
    from chanwatch.keys import pretty

    signer = _signer(settings)
    sys.stdout.write(signer.public_pem().decode())
    print(f"fingerprint (SHA-256): {pretty(signer.fingerprint)}")
    return 0


async def _login(args: argparse.Namespace, settings: Settings) -> int:
    from chanwatch.telegram import build_client

    missing = [m for m in settings.missing_telegram_credentials() if m != "BOT_TOKEN"]
    if missing:
        raise CliError(f"login needs {', '.join(missing)} (get them at my.telegram.org)")
    if args.session is not None:
        if not SESSION_NAME.fullmatch(args.session):
            raise UsageError(
                f"{args.session[:40]!r} is not a session name (letters, digits, _ and -)"
            )
        folder = settings.telethon_session.parent
        settings = settings.model_copy(update={"telethon_session": folder / args.session})
    client = build_client(settings)
    await client.start()  # Telethon asks for the phone number and code on the terminal
    me = await client.get_me()
    await client.disconnect()
    print(
        f"logged in as {getattr(me, 'username', None) or getattr(me, 'id', '?')}; "
        f"session saved to {settings.telethon_session.with_suffix('.session')}"
    )
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    import_aiogram()  # before anything imports it: its models are built as they are used
    from chanwatch.app import parse_roles

    try:
        roles = parse_roles(args.role)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    missing = settings.missing_telegram_credentials(roles)
    if missing:
        raise CliError(
            f"missing {', '.join(missing)}: set them in .env (see .env.example), "
            "or try `chanwatch demo`, which needs no credentials"
        )
    if settings.sqlite_in_memory:
        raise CliError(
            "DATABASE_URL is an in-memory SQLite database: everything would be lost at exit; "
            "give a file, e.g. sqlite+aiosqlite:///./data/chanwatch.db"
        )
    if not settings.mtproto_simulator and "collector" in roles:
        from chanwatch.secrets import private_session_path

        private_session_path(settings.telethon_session)  # a bad path is one line, before work
    from chanwatch.app import BotRejected, NotLoggedIn, run
    from chanwatch.runlock import AlreadyRunning, hold

    try:
        with hold(settings.database_url):
            await run(settings, roles)
    except (NotLoggedIn, BotRejected, AlreadyRunning) as exc:
        raise CliError(str(exc)) from None
    return 0


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import_aiogram()
    from chanwatch.demo import DemoError, run_demo

    try:
        await run_demo(settings, collector=args.collector)
    except DemoError as exc:
        raise CliError(f"the demo stalled: {exc}") from None
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
