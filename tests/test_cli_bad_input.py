"""Every bad input a user can give the command line: one line naming the problem, a
non-zero exit, and nothing changed on disk."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from chanwatch.settings import SettingsError, load_settings
from tests.clikit import ROOT, chanwatch, seed_channel

TOKEN = "123456:AAH-valid_looking-token"


def one_line_failure(result: object, *needles: str) -> str:
    out = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0, (result.stdout, out)  # type: ignore[attr-defined]
    assert "Traceback" not in out, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "data" / "chanwatch.db"
    seed_channel(db, tg_id=1_700_000_077, texts=("пост",))
    return db, {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}


# --------------------------------------------------------------------------- databases


def test_corrupted_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    db.write_bytes(b"this is not a database, just some text " * 200)
    before = digest(db)
    result = chanwatch("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{db}"})
    one_line_failure(result, str(db), "not a SQLite database")
    assert digest(db) == before


def test_truncated_sqlite_file(tmp_path: Path, seeded: tuple[Path, dict[str, str]]) -> None:
    db, env = seeded
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    before = digest(db)
    result = chanwatch("channels", "list", cwd=tmp_path, env=env)
    one_line_failure(result, str(db))
    assert digest(db) == before


def test_database_from_a_newer_chanwatch(
    tmp_path: Path, seeded: tuple[Path, dict[str, str]]
) -> None:
    db, env = seeded
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    before = digest(db)
    for args in (("db", "upgrade"), ("channels", "list"), ("db", "current")):
        result = chanwatch(*args, cwd=tmp_path, env=env)
        one_line_failure(result, "9999", "newer")
    assert digest(db) == before


def test_read_only_database_is_said_at_once(
    tmp_path: Path, seeded: tuple[Path, dict[str, str]]
) -> None:
    """Opened read-only (SQLite's own mode=ro, which binds root as well): a write is
    refused at once as read-only, not retried for seconds as "briefly unavailable"."""
    db, _ = seeded
    before = digest(db)
    url = f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true"
    result = chanwatch("channels", "remove", "@putdomoi", cwd=tmp_path, env={"DATABASE_URL": url})
    line = one_line_failure(result, "read-only")
    assert "try" not in line
    assert digest(db) == before


def test_unresolvable_postgres_host_is_one_line_with_password_masked(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://chanwatch:s3cr3tpass@no-such-host.invalid:5432/chanwatch"
    result = chanwatch("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url}, timeout=180)
    line = one_line_failure(result, "no-such-host.invalid")
    assert "s3cr3tpass" not in result.stderr + result.stdout, line


def test_sslmode_in_database_url(tmp_path: Path) -> None:
    """libpq's sslmode= (as hosting providers print it) works, translated to asyncpg's ssl=;
    a value libpq would not accept is one line."""
    s = load_settings(database_url="postgresql://u:p@db.example/x?sslmode=require")
    assert "sslmode" not in s.database_url and "ssl=require" in s.database_url
    bad = "postgresql://u:p@127.0.0.1:1/x?sslmode=sometimes"
    result = chanwatch("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": bad})
    one_line_failure(result, "DATABASE_URL", "sslmode")


def test_malformed_database_url_is_echoed_with_password_masked(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://chanwatch:s3cr3tpass@host:notaport/db"
    result = chanwatch("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    line = one_line_failure(result, "DATABASE_URL")
    assert "s3cr3tpass" not in line and "***" in line


def test_db_current_does_not_create_or_migrate(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "chanwatch.db"
    result = chanwatch("db", "current", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{missing}"})
    one_line_failure(result, str(missing))
    assert not missing.exists() and not missing.parent.exists()
    # An existing but unmigrated database is reported as such and left so.
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = chanwatch("db", "current", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{empty}"})
    assert result.returncode == 0 and "no migration" in result.stdout, result.stdout
    with sqlite3.connect(empty) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"POLL_MIN_SECONDS": "600", "POLL_MAX_SECONDS": "60"}, "POLL_MIN_SECONDS"),
        ({"DELIVERY_RATE": "inf"}, "DELIVERY_RATE"),
        # Above Telegram's free 30 msg/s only with paid broadcasts, and never above 1000.
        ({"DELIVERY_RATE": "31"}, "DELIVERY_PAID_BROADCAST"),
        ({"DELIVERY_RATE": "1001", "DELIVERY_PAID_BROADCAST": "true"}, "DELIVERY_RATE"),
        ({"DELIVERY_PER_CHAT_RATE": "nan"}, "DELIVERY_PER_CHAT_RATE"),
        ({"MODERATOR_IDS": "-5"}, "MODERATOR_IDS"),
        ({"MODERATOR_IDS": "1234567890123456789012345"}, "MODERATOR_IDS"),
        ({"MODERATOR_IDS": "12,٣"}, "MODERATOR_IDS"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"BOT_API_BASE_URL": "api.telegram.org"}, "BOT_API_BASE_URL"),
    ],
)
def test_refused_settings(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    result = chanwatch("db", "upgrade", cwd=tmp_path, env=env)
    line = one_line_failure(result, variable)
    assert "not-a-token" not in line
    assert not (tmp_path / "data").exists()


def test_run_refuses_in_memory_sqlite(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "sqlite+aiosqlite:///:memory:",
        "BOT_TOKEN": TOKEN,
        "MTPROTO_SIMULATOR": "127.0.0.1:1",
    }
    one_line_failure(chanwatch("run", cwd=tmp_path, env=env), "DATABASE_URL", "memory")


def test_unknown_role_and_bad_session_name(tmp_path: Path) -> None:
    env = {"BOT_TOKEN": TOKEN, "MTPROTO_SIMULATOR": "127.0.0.1:1"}
    result = chanwatch("run", "--role", "collector", "--role", "colector", cwd=tmp_path, env=env)
    line = one_line_failure(result, "unknown role 'colector'", "collector, bot, router")
    assert result.returncode == 2, line
    assert not (tmp_path / "data").exists()  # refused before any work
    env = {"TELEGRAM_API_ID": "1", "TELEGRAM_API_HASH": "abcdef0123"}
    result = chanwatch("login", "--session", "../elsewhere", cwd=tmp_path, env=env)
    one_line_failure(result, "'../elsewhere' is not a session name")
    assert result.returncode == 2
    assert not list(tmp_path.rglob("*.session"))


def test_settings_in_python_too() -> None:
    with pytest.raises(SettingsError, match="POLL_MIN_SECONDS"):
        load_settings(poll_min_seconds=10, poll_max_seconds=5)
    with pytest.raises(SettingsError, match="invalid setting DELIVERY_RATE: 100 is above"):
        load_settings(delivery_rate=100)
    paid = load_settings(delivery_rate=1000, delivery_paid_broadcast="true")
    assert paid.delivery_rate == 1000 and paid.delivery_paid_broadcast is True
    assert load_settings(moderator_ids=" 1, 4503599627370495").moderator_ids == (
        1,
        4503599627370495,
    )


# --------------------------------------------------------------------------- files


def test_unwritable_session_path(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    env = {
        "TELEGRAM_API_ID": "1",
        "TELEGRAM_API_HASH": "abcdef0123",
        "BOT_TOKEN": TOKEN,
        "TELETHON_SESSION": str(tmp_path / "afile" / "chanwatch.session"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    one_line_failure(chanwatch("login", cwd=tmp_path, env=env), "TELETHON_SESSION")
    one_line_failure(chanwatch("run", cwd=tmp_path, env=env), "TELETHON_SESSION")


def test_symlink_at_session_path_is_refused(tmp_path: Path) -> None:
    from chanwatch.secrets import SessionPathError, private_session_path

    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "s" / "collector.session"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(SessionPathError, match="symlink"):
        private_session_path(link)
    assert target.read_text() == "keep"
    assert stat.S_IMODE(target.stat().st_mode) != 0o600 or os.geteuid() != 0


def test_data_folder_database_and_wal_are_private(tmp_path: Path) -> None:
    result = chanwatch("channels", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(data.iterdir())
    assert (data / "chanwatch.db") in files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # The -wal and -shm files exist while a connection is open; they are created with the
    # database's mode, so check them while one is.
    with sqlite3.connect(data / "chanwatch.db") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        for suffix in ("-wal", "-shm"):
            side = data / f"chanwatch.db{suffix}"
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, side


def test_gitignore_covers_secrets_anywhere() -> None:
    import subprocess

    for path in (".env.production", "sub/.env.local", "x/y/chanwatch.db", "any/dir/a.session"):
        result = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True
        )
        assert result.returncode == 0, f"{path} is not ignored"
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", ".env.example"], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 1, ".env.example must stay tracked"


# --------------------------------------------------------------------------- export


def test_export_to_bad_places(tmp_path: Path, seeded: tuple[Path, dict[str, str]]) -> None:
    _, env = seeded
    folder = tmp_path / "afolder"
    folder.mkdir()
    for target, needle in (
        (folder, "folder"),
        (tmp_path / "missing" / "out.jsonl", "missing"),
        (Path("/dev/full"), "/dev/full"),
    ):
        result = chanwatch(
            "export", "@putdomoi", "-o", str(target), "--force", cwd=tmp_path, env=env
        )
        one_line_failure(result, needle)
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afolder", "data"]


def test_export_to_read_only_folder(tmp_path: Path, seeded: tuple[Path, dict[str, str]]) -> None:
    _, env = seeded
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):
        # Root writes anywhere on a normal file system; a read-only one binds it too.
        ro = Path("/proc")
    result = chanwatch("export", "@putdomoi", "-o", str(ro / "out.jsonl"), cwd=tmp_path, env=env)
    one_line_failure(result, str(ro))


def test_export_to_full_stdout(tmp_path: Path, seeded: tuple[Path, dict[str, str]]) -> None:
    import subprocess
    import sys

    _, env = seeded
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with open("/dev/full", "w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "chanwatch", "export", "@putdomoi"],
            cwd=tmp_path,
            env=full,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    one_line_failure(result, "standard output")


def test_export_refuses_an_existing_file_without_force(
    tmp_path: Path, seeded: tuple[Path, dict[str, str]]
) -> None:
    _, env = seeded
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    one_line_failure(
        chanwatch("export", "@putdomoi", "-o", str(out), cwd=tmp_path, env=env), "--force"
    )
    assert out.read_text() == "precious\n"
    result = chanwatch("export", "@putdomoi", "-o", str(out), "--force", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert '"record": "post"' in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


# --------------------------------------------------------------------------- ids


def test_internal_row_ids_are_not_channel_references(
    tmp_path: Path, seeded: tuple[Path, dict[str, str]]
) -> None:
    """Row id 1 is @putdomoi, whose Telegram id is not 1: "1" must not act on it."""
    db, env = seeded
    before = digest(db)
    one_line_failure(chanwatch("export", "1", cwd=tmp_path, env=env), "'1'")
    one_line_failure(chanwatch("channels", "remove", "1", cwd=tmp_path, env=env), "'1'")
    assert digest(db) == before
    by_id = chanwatch("export", "1700000077", cwd=tmp_path, env=env)
    assert by_id.returncode == 0 and "пост" in by_id.stdout
    by_link = chanwatch("export", "https://t.me/putdomoi", cwd=tmp_path, env=env)
    assert by_link.returncode == 0 and "пост" in by_link.stdout
    removed = chanwatch("channels", "remove", "-1001700000077", cwd=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
