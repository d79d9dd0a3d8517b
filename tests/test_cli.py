"""The command line as a new user meets it: a subprocess, a fresh directory, real files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chanwatch.secrets import RedactingFilter, private_session_path
from chanwatch.settings import SettingsError, load_settings
from storage.migrate import head_revision
from tests.clikit import ROOT, chanwatch, seed_channel


def test_help_lists_commands(tmp_path: Path) -> None:
    result = chanwatch("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "demo", "login", "db", "channels", "export"):
        assert command in result.stdout


def test_db_upgrade_on_empty_directory_creates_database(tmp_path: Path) -> None:
    result = chanwatch("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"revision {head_revision()}" in result.stdout
    assert (tmp_path / "data" / "chanwatch.db").exists()
    # A second run is a no-op, not an error.
    assert chanwatch("db", "upgrade", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "not a url at all"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"MODERATOR_IDS": "12345,abc"}, "MODERATOR_IDS"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"DIGEST_SCHEDULE": "someday 25:00"}, "DIGEST_SCHEDULE"),
        ({"TELEGRAM_API_ID": "twelve"}, "TELEGRAM_API_ID"),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = chanwatch("db", "upgrade", cwd=tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    url = f"sqlite+aiosqlite:///{locked}/data/x.db"
    result = chanwatch("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    assert result.returncode == 1
    assert "not writable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unwritable_data_directory_as_file(tmp_path: Path) -> None:
    """A data 'directory' that is a file cannot be written to, even by root."""
    (tmp_path / "data").write_text("not a folder")
    result = chanwatch("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 1
    assert "not writable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_database_unavailable_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    result = chanwatch("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url}, timeout=180)
    assert result.returncode == 1
    assert "database unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_without_credentials_names_them_and_points_to_demo(tmp_path: Path) -> None:
    # The account's collector asked for by name needs the account's credentials.
    result = chanwatch("run", cwd=tmp_path, env={"COLLECTOR": "telethon"})
    assert result.returncode == 1
    for name in ("TELEGRAM_API_ID", "TELEGRAM_API_HASH", "BOT_TOKEN"):
        assert name in result.stderr
    assert "chanwatch demo" in result.stderr
    # Without them the web preview is the collector, and only the bot token is missing.
    web = chanwatch("run", cwd=tmp_path)
    assert web.returncode == 1 and "BOT_TOKEN" in web.stderr
    assert "TELEGRAM_API_ID" not in web.stderr


def test_channels_add_needs_credentials_and_valid_handle(tmp_path: Path) -> None:
    bad = chanwatch("channels", "add", "https://t.me/+AbCdEf", cwd=tmp_path)
    assert bad.returncode == 1 and "private_link" in bad.stderr
    missing = chanwatch("channels", "add", "@putdomoi", cwd=tmp_path, env={"COLLECTOR": "telethon"})
    assert missing.returncode == 1 and "TELEGRAM_API_ID" in missing.stderr
    wrong = chanwatch("channels", "list", cwd=tmp_path, env={"COLLECTOR": "mtproto"})
    assert wrong.returncode == 2 and "COLLECTOR" in wrong.stderr


def test_channels_list_empty_and_export_unknown(tmp_path: Path) -> None:
    listed = chanwatch("channels", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "no channels" in listed.stdout
    exported = chanwatch("export", "@nobody_here", cwd=tmp_path)
    assert exported.returncode == 1 and "no channel" in exported.stderr


def test_session_file_is_private(tmp_path: Path) -> None:
    path = private_session_path(tmp_path / "s" / "collector")
    assert path.name == "collector.session"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_secrets_are_redacted_from_logs() -> None:
    import logging

    token = "123456:AAHsecretsecretsecret"
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "calling %s/bot%s/getMe", ("https://api", token), None
    )
    RedactingFilter([token]).filter(record)
    assert token not in record.getMessage()
    assert "[redacted]" in record.getMessage()


def test_settings_parse_moderators_and_normalize_urls() -> None:
    s = load_settings(moderator_ids="1, 2;3", database_url="postgresql://u@h/db")
    assert s.moderator_ids == (1, 2, 3)
    assert s.database_url.startswith("postgresql+asyncpg://")
    with pytest.raises(SettingsError, match="MODERATOR_IDS"):
        load_settings(moderator_ids="x")


def test_env_example_documents_every_setting() -> None:
    from chanwatch.settings import Settings

    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert documented == {name.upper() for name in Settings.model_fields}
    readme = (ROOT / "README.md").read_text()
    for name in documented:
        assert f"`{name}`" in readme, f"{name} missing from the README's configuration table"


def test_export_jsonl_round_trip(tmp_path: Path) -> None:
    """Export reads back what storage holds (the archive, every version of a post)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'chanwatch.db'}"
    seed_channel(tmp_path / "data" / "chanwatch.db", texts=("one", "two"))
    result = chanwatch(
        "export", "@putdomoi", "--format", "jsonl", cwd=tmp_path, env={"DATABASE_URL": url}
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    posts = [r for r in records if r["record"] == "post"]
    assert [v["text"] for v in posts[0]["versions"]] == ["one", "two"]
    assert {r["kind"] for r in records if r["record"] == "event"} == {"post.new", "post.edited"}


def test_installed_console_script_runs(tmp_path: Path) -> None:
    """`pip install -e .` put a `chanwatch` command beside the interpreter that works."""
    script = Path(sys.executable).parent / "chanwatch"
    if not script.exists():
        pytest.skip("chanwatch is not installed in this interpreter's environment")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    shown = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert shown.returncode == 0 and "export" in shown.stdout
    upgraded = subprocess.run(
        [str(script), "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "chanwatch.db").exists()


def test_pack_export_bad_input_is_one_line(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "SIGNING_KEY_PATH": str(tmp_path / "keys" / "k.pem"),
    }
    no_output = chanwatch("export", "@nobody", "--format", "pack", cwd=tmp_path, env=env)
    assert no_output.returncode == 1 and "-o NAME.zip" in no_output.stderr
    unknown = chanwatch(
        "export", "@nobody", "--format", "pack", "-o", "x.zip", cwd=tmp_path, env=env
    )
    assert unknown.returncode == 1 and "no channel '@nobody'" in unknown.stderr
    assert "Traceback" not in unknown.stderr and not (tmp_path / "x.zip").exists()
    bad_day = chanwatch("export", "@x", "--format", "pack", "-o", "x.zip", "--since", "May",
                        cwd=tmp_path, env=env)  # fmt: skip
    assert bad_day.returncode == 2 and "is not a date" in bad_day.stderr
    nothing = chanwatch("verify", cwd=tmp_path, env=env)
    assert nothing.returncode == 1 and "--db" in nothing.stderr


@pytest.mark.slow
async def test_channels_add_resolves_afresh_when_the_stored_channel_is_gone(
    tmp_path: Path,
) -> None:
    """`chanwatch channels add @name` after the watched channel was deleted and another
    channel took its name: the new holder is watched, not "already watching" the dead one."""
    import asyncio

    from chanwatch.telegram import CLIENT_OPTIONS
    from collectors.collector import Collector
    from simulator.mtproto import World, WorldServer, make_simulated_client
    from storage.db import create_engine, session_factory

    world = World(service_messages=False)
    old = world.create_channel(username="putdomoi", title="Путь домой", about="")
    server = await WorldServer(world).start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cw.db'}"
    env = {"DATABASE_URL": url, "MTPROTO_SIMULATOR": server.url}
    try:
        first = await asyncio.to_thread(
            chanwatch, "channels", "add", "@putdomoi", cwd=tmp_path, env=env
        )
        assert first.returncode == 0 and f"now watching Путь домой (id {old.id})" in first.stdout
        world.delete_channel("putdomoi")
        engine = create_engine(url)
        client = make_simulated_client(world, **CLIENT_OPTIONS)
        await client.connect()
        try:  # the running collector's next refresh finds it gone
            collector = Collector(client, session_factory(engine))
            [channel] = await collector._load_watched()
            await collector.refresh(channel.id)
        finally:
            await client.disconnect()
            await engine.dispose()
        new = world.create_channel(username="putdomoi", title="Самозванец", about="")
        again = await asyncio.to_thread(
            chanwatch, "channels", "add", "@putdomoi", cwd=tmp_path, env=env
        )
        assert again.returncode == 0, again.stderr
        assert f"now watching Самозванец (id {new.id})" in again.stdout, again.stdout
    finally:
        await server.close()
