"""Observation log, checkpoints, proof packs and their verifier, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from chanwatch import cli, proofcheck
from chanwatch.keys import load_or_create, pretty
from chanwatch.pack import build as pack_build
from storage import changes, checkpoints, ledger
from storage.db import SessionMaker, create_engine, session_factory, transaction
from storage.models import Channel, Checkpoint, LogRecord
from storage.observations import PostSeen
from storage.types import utcnow
from tests import dbs, proofkit
from tests.support import watched_channel

ROOT = Path(__file__).resolve().parent.parent


async def _log(sessions: SessionMaker) -> list[LogRecord]:
    async with sessions() as s:
        return await ledger.records(s)


async def test_changes_are_logged_in_a_chain_the_database_keeps(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    cid = await proofkit.history(sessions, tmp_path / "media")
    log = await _log(sessions)
    types = [r.type for r in log]
    assert types.count("post") == 7  # six first sightings and one new version
    assert types.count("post_deleted") == 1 and types.count("media") == 1
    assert types.count("channel") == 2  # first look, then FAKE + restriction + subscribers
    assert [r.seq for r in log] == list(range(1, len(log) + 1))
    first = json.loads(next(r.record for r in log if r.type == "post"))
    assert first["source"] == "t/acc/poll" and first["channel_tg_id"] == 1001
    assert ledger.canonical(first).decode() == log[1].record  # stored in canonical form

    # Seen again unchanged the same day: one "still seen" record per post and per channel.
    again = PostSeen(
        message_id=1,
        date=proofkit.T0 + proofkit.timedelta(hours=1),
        text=f"post 1 {proofkit.HOSTILE}",
    )
    same = proofkit.seen_channel(
        proofkit.T0 + proofkit.timedelta(days=3),
        fake=True,
        restricted=True,
        restrictions=(
            proofkit.RestrictionSeen("all", "ru", "This channel is blocked under local laws."),
        ),
        participants=1300,
    )
    for _ in range(3):
        await transaction(sessions, lambda s: changes.observe_posts(s, cid, [again]))
        await transaction(sessions, lambda s: changes.observe_channel(s, cid, same))
    log2 = await _log(sessions)
    assert [r.type for r in log2[len(log) :]] == ["post_seen", "channel_seen"]

    async with sessions() as s:
        problems, count = await ledger.check_db(s)
    assert problems == [] and count == len(log2)

    # The database refuses to change or remove a log row, whoever asks.
    for sql in (
        "UPDATE observation_log SET record = 'x' WHERE seq = 1",
        "DELETE FROM observation_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as s, s.begin():
                await s.execute(text(sql))
    assert len(await _log(sessions)) == len(log2)


# --- packs and tampering ----------------------------------------------------------------


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _JSON, max_size=8))
def test_canonical_json_is_sorted_compact_utf8(value: dict[str, object]) -> None:
    """The documented canonical form: what json.dumps writes with sorted keys, no
    whitespace and UTF-8 as is (RFC 8785's form for these values)."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert ledger.canonical(value) == expected.encode()


def test_canonical_json_refuses_floats_and_non_json() -> None:
    for bad in ({"a": 1.5}, {"a": [{"b": 2.0}]}, {1: "x"}, {"a": 2**64}, {"at": utcnow()}):
        with pytest.raises(TypeError):
            ledger.canonical(bad)


async def test_an_append_rolled_back_leaves_the_chain_whole(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    """The appender chains onto the head it wrote last; when that transaction rolls back,
    the next append must follow the head that was committed, not the one it remembers."""
    cid = await proofkit.history(sessions, tmp_path / "media")

    async def edit_then_fail(s):  # type: ignore[no-untyped-def]
        await changes.observe_posts(s, cid, [PostSeen(message_id=900, date=utcnow(), text="x")])
        raise RuntimeError("the transaction fails after its append")

    with pytest.raises(RuntimeError):
        await transaction(sessions, edit_then_fail)
    later = [PostSeen(message_id=901, date=utcnow(), text="y")]
    await transaction(sessions, lambda s: changes.observe_posts(s, cid, later))
    log = await _log(sessions)
    assert [r.seq for r in log] == list(range(1, len(log) + 1))
    assert json.loads(log[-1].record)["message_id"] == 901
    async with sessions() as s:
        problems, count = await ledger.check_db(s)
    assert problems == [] and count == len(log)


def _files(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(pack: Path, files: dict[str, bytes]) -> Path:
    out = pack.with_name("tampered.zip")
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _problems(pack: Path, *args: str) -> list[str]:
    report = proofcheck.verify(pack, expect_key=args[0] if args else None)
    return report.problems


async def test_pack_verifies_and_every_tampering_is_named(
    sessions: SessionMaker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    media = tmp_path / "media"
    await proofkit.history(sessions, media)
    result = await proofkit.make_pack(sessions, tmp_path, media)
    files = _files(result.path)
    for name in (
        "manifest.json",
        "seal.json",
        "records.jsonl",
        "chain.jsonl",
        "checkpoints.json",
        "public_key.pem",
        "posts.jsonl",
        "events.jsonl",
        "VERIFY.md",
        "verify.py",
        "index.html",
    ):
        assert name in files, name
    (media_name,) = [n for n in files if n.startswith("media/")]
    assert files["verify.py"] == (ROOT / "chanwatch" / "proofcheck.py").read_bytes()
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json", "seal.json"}

    assert await asyncio.to_thread(cli.main, ["verify", str(result.path)]) == 0
    out = capsys.readouterr().out
    assert "records: 11" in out and "media files: 1" in out and "OK: the pack verifies" in out
    assert pretty(load_or_create(tmp_path / "keys" / "signing_key.pem").fingerprint) in out

    lines = files["records.jsonl"].decode().splitlines()
    seqs = [json.loads(x)["seq"] for x in lines]

    def expect(changed: dict[str, bytes], *needles: str, key: str | None = None) -> None:
        problems = _problems(_write(result.path, {**files, **changed}), *([key] if key else []))
        for needle in needles:
            assert any(needle in p for p in problems), (needle, problems)

    expect(
        {media_name: _flip(files[media_name], 40)},
        f"{media_name}: SHA-256 differs from manifest.json",
        f"{media_name}: content does not match its SHA-256 name",
    )
    victim = lines[3].replace("post", "p0st", 1)
    expect(
        {"records.jsonl": "\n".join([*lines[:3], victim, *lines[4:]]).encode() + b"\n"},
        "records.jsonl: SHA-256 differs from manifest.json",
        f"record seq {seqs[3]} (records.jsonl line 4): content does not match its hash",
    )
    expect(
        {"manifest.json": files["manifest.json"].replace(b'"format"', b'"f0rmat"')},
        "manifest.json: SHA-256 differs from the one sealed in seal.json",
    )
    cps = json.loads(files["checkpoints.json"])
    sig = cps[0]["signature"]
    cps[0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    expect(
        {"checkpoints.json": json.dumps(cps).encode()},
        "Ed25519 signature does not verify",
        "checkpoints.json: SHA-256 differs from manifest.json",
    )
    expect(
        {"index.html": _flip(files["index.html"], 100)},
        "index.html: SHA-256 differs from manifest.json",
    )
    expect(
        {"records.jsonl": "\n".join(lines[:2] + lines[3:]).encode() + b"\n"},
        f"record seq {seqs[2]}: missing from records.jsonl (deleted)",
    )
    expect(
        {"records.jsonl": "\n".join([lines[0], lines[2], lines[1], *lines[3:]]).encode()},
        f"comes after seq {seqs[2]} (records out of order",
    )

    # Re-signed with another key, public key swapped and the manifest made to match.
    other = load_or_create(tmp_path / "other" / "key.pem")
    forged = json.loads(files["checkpoints.json"])
    for cp in forged:
        cp["signature"] = other.sign(cp["statement"].encode()).hex()
    resigned = {
        **files,
        "checkpoints.json": json.dumps(forged).encode(),
        "public_key.pem": other.public_pem(),
    }
    manifest["files"] = {
        n: proofcheck.sha256(d).hex()
        for n, d in resigned.items()
        if n not in ("manifest.json", "seal.json")
    }
    resigned["manifest.json"] = json.dumps(manifest).encode()
    original = load_or_create(tmp_path / "keys" / "signing_key.pem").fingerprint
    expect(
        resigned,
        f"but public_key.pem is {other.fingerprint}",
        "manifest.json: SHA-256 differs from the one sealed",
        f"is not the expected key {original}",
        key=original,
    )


async def test_verify_shows_the_key_and_on_the_installation_compares_it(
    sessions: SessionMaker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pack signed by another key than the installation's is caught without --key when
    `chanwatch verify` runs where that installation's key is; elsewhere the fingerprint
    is shown with what to compare it with."""
    media = tmp_path / "media"
    await proofkit.history(sessions, media)
    pack = str((await proofkit.make_pack(sessions, tmp_path, media)).path)
    signed_by = load_or_create(tmp_path / "keys" / "signing_key.pem").fingerprint

    # A machine without the installation's key: shown, with the instruction; no key made.
    monkeypatch.setenv("SIGNING_KEY_PATH", str(tmp_path / "elsewhere" / "key.pem"))
    assert await asyncio.to_thread(cli.main, ["verify", pack]) == 0
    out = capsys.readouterr().out
    assert f"signing key fingerprint: {pretty(signed_by)}" in out
    assert "compare it with the fingerprint the installation published (`chanwatch key`" in out
    assert not (tmp_path / "elsewhere").exists()

    # The installation that signed it: compared, and said so.
    monkeypatch.setenv("SIGNING_KEY_PATH", str(tmp_path / "keys" / "signing_key.pem"))
    assert await asyncio.to_thread(cli.main, ["verify", pack]) == 0
    assert "checked against the expected key (this installation's key" in capsys.readouterr().out

    # An installation with another key: the pack is not its own, and verify says why.
    other = load_or_create(tmp_path / "other" / "key.pem")
    monkeypatch.setenv("SIGNING_KEY_PATH", str(tmp_path / "other" / "key.pem"))
    assert await asyncio.to_thread(cli.main, ["verify", pack]) == 1
    out = capsys.readouterr().out
    assert (
        f"FAIL: public_key.pem: the pack is signed by key {signed_by}, which is not the "
        f"expected key {other.fingerprint} (this installation's key, SIGNING_KEY_PATH="
    ) in out
    assert "re-signed, or made by another installation" in out
    # --key names the publisher's key instead (as printed by `chanwatch key`, grouped).
    assert await asyncio.to_thread(cli.main, ["verify", pack, "--key", pretty(signed_by)]) == 0


async def _timestamped_pack(sessions: SessionMaker, tmp_path: Path) -> tuple[Path, Path]:
    """A pack whose checkpoints carry tokens from OpenSSL's TSA; the pack and the TSA folder."""
    from chanwatch.tsa import Timestamper
    from tests import tsa_openssl

    tsa_dir = tmp_path / "tsa"
    tsa_openssl.make_tsa(tsa_dir)
    media = tmp_path / "media"
    await proofkit.history(sessions, media)
    signer = proofkit.signer(tmp_path)
    await transaction(sessions, lambda s: checkpoints.seal(s, signer, today=True))
    async with tsa_openssl.serve_tsa(tsa_dir) as url:
        stamper = Timestamper(sessions, [url])
        assert await stamper.run_once() == 1
        result = await pack_build(
            sessions, "@putdomoi", signer, tmp_path / "putdomoi.zip", media_dir=media,
            timestamper=stamper,
        )  # fmt: skip
    return result.path, tsa_dir


def _retoken(token_b64: str, change: object) -> str:
    import base64

    token = base64.b64decode(token_b64)
    return base64.b64encode(change(token)).decode()  # type: ignore[operator]


async def test_bundled_verify_py_runs_without_chanwatch(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    """The pack's verify.py in a venv that has only `cryptography` (no chanwatch, no
    rfc3161-client), in the unpacked folder, timestamp tokens included."""
    from tests import tsa_openssl

    pack, tsa_dir = await _timestamped_pack(sessions, tmp_path)
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(pack) as zf:
        zf.extractall(folder)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "cryptography"], check=True, capture_output=True
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for module in ("chanwatch", "rfc3161_client"):
        probe = subprocess.run([str(py), "-c", f"import {module}"], cwd=folder, env=env)
        assert probe.returncode != 0, module  # really without it

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(py), "verify.py", *args], cwd=folder, capture_output=True, text=True, env=env
        )

    ca = str(tsa_dir / "ca.pem")
    ok = verify("--tsa-cert", ca)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: the pack verifies" in ok.stdout and "records: 11" in ok.stdout
    assert "timestamp tokens verified: 2" in ok.stdout  # the day's and the seal's

    # A token from another root: a CA that did not issue this TSA's certificate.
    other = tmp_path / "other"
    tsa_openssl.make_tsa(other)
    wrong_root = verify("--tsa-cert", str(other / "ca.pem"))
    assert wrong_root.returncode == 1
    assert "TSA certificate (CN=chanwatch test TSA) is not issued by a given TSA CA" in (
        wrong_root.stdout
    )

    # One flipped byte of the TSA's signature (the last bytes of the token).
    original = (folder / "checkpoints.json").read_bytes()
    cps = json.loads(original)
    token = cps[0]["tsa_tokens"][0]
    token["token"] = _retoken(token["token"], lambda t: _flip(t, len(t) - 1))
    (folder / "checkpoints.json").write_text(json.dumps(cps))
    flipped = verify("--tsa-cert", ca)
    assert flipped.returncode == 1
    assert "TSA signature does not verify (altered, or signed by another key)" in flipped.stdout

    (folder / "checkpoints.json").write_bytes(original)
    (folder / "posts.jsonl").write_bytes(b"{}\n")
    bad = verify("--tsa-cert", ca)
    assert bad.returncode == 1 and "posts.jsonl: SHA-256 differs from manifest.json" in bad.stdout


def test_verify_refuses_what_is_not_a_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    assert cli.main(["verify", str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a proof pack ZIP" in err and "Traceback" not in err
    assert cli.main(["verify", str(tmp_path / "missing.zip")]) == 1
    assert "is not a proof pack" in capsys.readouterr().err
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert cli.main(["verify", str(empty)]) == 1
    assert "no manifest.json" in capsys.readouterr().err


async def test_verify_db_names_a_post_changed_by_sql(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    await proofkit.history(sessions, tmp_path / "media")
    async with sessions() as s, s.begin():
        await s.execute(text("UPDATE posts SET text = 'nothing happened' WHERE message_id = 3"))
    await engine.dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SIGNING_KEY_PATH", str(tmp_path / "keys" / "k.pem"))
    assert await asyncio.to_thread(cli.main, ["verify", "--db"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: post 3 of @putdomoi" in out and "stored text differs from logged version 1" in out
    assert "post 1 of" not in out


def test_key_is_made_private_and_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys" / "signing_key.pem"
    monkeypatch.setenv("SIGNING_KEY_PATH", str(path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert cli.main(["key"]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    fp = load_or_create(path).fingerprint
    assert "BEGIN PUBLIC KEY" in out and fp[:4] + " " + fp[4:8] in out
    assert cli.main(["key"]) == 0 and fp[:4] in capsys.readouterr().out  # same key, not a new one


def _first_start(path: str, ready: Any, out: Any) -> None:
    ready.wait()
    try:
        out.put(load_or_create(Path(path)).fingerprint)
    except Exception as exc:  # noqa: BLE001 - the parent reports what each process met
        out.put(f"{type(exc).__name__}: {exc}")


def test_roles_starting_at_once_in_one_folder_share_one_key(tmp_path: Path) -> None:
    """`chanwatch run --role bot` and `--role digest` started together in one folder: each
    gets the same key, none stops on a half-written key file."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(60):
        path = str(tmp_path / str(round_) / "keys" / "signing_key.pem")
        ready, out = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_first_start, args=(path, ready, out)) for _ in range(6)]
        for p in procs:
            p.start()
        got = [out.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(10)
        assert len(set(got)) == 1 and got[0] == load_or_create(Path(path)).fingerprint, got
        assert sorted(os.listdir(Path(path).parent)) == ["signing_key.pem"]  # no leftovers


@pytest.mark.postgres
async def test_postgres_writers_in_several_processes_keep_one_chain(tmp_path: Path) -> None:
    if reason := await dbs.postgres_unavailable():
        pytest.skip(reason)
    async with dbs.database_url("postgres", tmp_path) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        await proofkit.history(sessions, tmp_path / "media")
        await engine.dispose()
        script = (
            "import asyncio,sys\n"
            "from storage.db import create_engine, session_factory, transaction\n"
            "from storage import changes\n"
            "from storage.observations import PostSeen\n"
            "from datetime import datetime, UTC\n"
            "async def main(url, base):\n"
            "    e = create_engine(url); s = session_factory(e)\n"
            "    for i in range(25):\n"
            "        p = [PostSeen(message_id=base + i, date=datetime.now(UTC), text=str(i))]\n"
            "        await transaction(\n"
            "            s, lambda x: changes.observe_posts(x, 1, p, source=f'p{base}'))\n"
            "    await e.dispose()\n"
            "asyncio.run(main(sys.argv[1], int(sys.argv[2])))\n"
        )
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", script, url, str(base), cwd=ROOT
            )
            for base in (1000, 2000, 3000, 4000)
        ]
        assert [await p.wait() for p in procs] == [0, 0, 0, 0]
        engine = create_engine(url)
        sessions = session_factory(engine)
        async with sessions() as s:
            problems, count = await ledger.check_db(s)
            sources = set(await s.scalars(select(LogRecord.source)))
        assert problems == [] and count == 11 + 100
        assert {"p1000", "p2000", "p3000", "p4000"} <= sources
        made = await transaction(
            sessions, lambda s: checkpoints.seal(s, proofkit.signer(tmp_path), today=True)
        )
        assert made and made[-1].last_seq == count
        await engine.dispose()


async def test_finished_days_are_sealed_and_interim_ones_finalised(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    await proofkit.history(sessions, tmp_path / "media")
    signer = proofkit.signer(tmp_path)
    assert await transaction(sessions, lambda s: checkpoints.seal(s, signer)) == []  # today runs on
    (cp,) = await transaction(sessions, lambda s: checkpoints.seal(s, signer, today=True))
    assert not cp.final
    tomorrow = proofkit.datetime.now(proofkit.UTC) + proofkit.timedelta(days=1)
    assert await transaction(sessions, lambda s: checkpoints.seal(s, signer, now=tomorrow)) == []
    async with sessions() as s:
        (row,) = list(await s.scalars(select(Checkpoint)))
        st = json.loads(row.statement)
        assert row.final and st["count"] == 11 and st["key_fingerprint"] == signer.fingerprint
        first = (await ledger.records(s))[0]
        genesis_link = proofcheck.chain_next(bytes(32), bytes.fromhex(first.record_hash))
        assert genesis_link.hex() == first.chain_hash


# --- RFC 3161 against OpenSSL's TSA ------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_openssl_tsa_timestamps_checkpoints_and_a_down_tsa_is_retried(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    from chanwatch.tsa import Timestamper
    from tests import tsa_openssl

    tsa_dir = tmp_path / "tsa"
    tsa_openssl.make_tsa(tsa_dir)
    media = tmp_path / "media"
    await proofkit.history(sessions, media)
    signer = proofkit.signer(tmp_path)
    await transaction(sessions, lambda s: checkpoints.seal(s, signer, today=True))

    port = _free_port()
    url = f"http://127.0.0.1:{port}/tsa"
    stamper = Timestamper(sessions, [url], backoff=proofkit.timedelta(seconds=30))
    assert await stamper.run_once() == 0  # nobody listens: untimestamped, retried later
    async with sessions() as s:
        (cp,) = list(await s.scalars(select(Checkpoint)))
    assert cp.tsa_tokens == [] and "unreachable" in (cp.tsa_error or "")
    assert cp.tsa_next_at is not None and cp.tsa_next_at > cp.created_at
    assert await stamper.run_once() == 0  # not due yet

    async with tsa_openssl.serve_tsa(tsa_dir, port):
        later = cp.tsa_next_at + proofkit.timedelta(seconds=1)
        assert await stamper.run_once(now=later) == 1
        async with sessions() as s:
            cp2 = await s.get(Checkpoint, cp.id)
        assert cp2 is not None and cp2.tsa_error is None and cp2.tsa_next_at is None
        assert len(cp2.tsa_tokens) == 1 and cp2.tsa_tokens[0]["url"] == url

        result = await pack_build(
            sessions, "@putdomoi", signer, tmp_path / "p.zip", media_dir=media,
            timestamper=stamper,
        )  # fmt: skip
    ca = tsa_dir / "ca.pem"
    report = proofcheck.verify(result.path, [ca])
    assert report.ok, report.problems
    assert report.summary["timestamp_tokens_verified"] >= 2  # the day's and the seal's
    assert report.summary["checkpoints_untimestamped"] == 0

    # OpenSSL itself agrees the token covers statement ‖ signature.
    files = _files(result.path)
    cps = json.loads(files["checkpoints.json"])
    (tmp_path / "msg").write_bytes(proofcheck.tsa_message(cps[0]["statement"], cps[0]["signature"]))
    (tmp_path / "tok.tsr").write_bytes(proofcheck._b64(cps[0]["tsa_tokens"][0]["token"]))
    check = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "msg", "-in", "tok.tsr", "-CAfile", str(ca),
         "-untrusted", str(tsa_dir / "tsa.pem")],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert "Verification: OK" in check.stdout, check.stdout + check.stderr

    # A token from another checkpoint's root, moved onto this one, is caught.
    seal = json.loads(files["seal.json"])
    cps[0]["tsa_tokens"] = seal["checkpoint"]["tsa_tokens"]
    moved = _write(result.path, {**files, "checkpoints.json": json.dumps(cps).encode()})
    problems = proofcheck.verify(moved, [ca]).problems
    assert any("timestamp token from" in p and "timestamps another message" in p for p in problems)
    # A CA that did not issue the TSA's certificate is refused.
    other_ca = tmp_path / "other"
    tsa_openssl.make_tsa(other_ca)
    problems = proofcheck.verify(result.path, [other_ca / "ca.pem"]).problems
    assert any("is not issued by a given TSA CA" in p for p in problems), problems
    # A TSTInfo changed after signing (its last byte sits inside the signed content).
    cps = json.loads(files["checkpoints.json"])
    tst = proofcheck.parse_token(proofcheck._b64(cps[0]["tsa_tokens"][0]["token"])).tst_info
    cps[0]["tsa_tokens"][0]["token"] = _retoken(
        cps[0]["tsa_tokens"][0]["token"], lambda t: t.replace(tst, _flip(tst, len(tst) - 1))
    )
    altered = _write(result.path, {**files, "checkpoints.json": json.dumps(cps).encode()})
    problems = proofcheck.verify(altered, [ca]).problems
    assert any("the TSTInfo differs from the one signed" in p for p in problems), problems


@pytest.mark.postgres
async def test_a_photo_recorded_while_its_channel_is_observed_does_not_deadlock(
    tmp_path: Path,
) -> None:
    """Two collectors' writes on PostgreSQL: one observes a channel (its row locked, its log
    record still to come) while the other logs the channel's photo. The log's insert refers to
    the channel's row; with FOR UPDATE on that row the two waited for each other (the log's
    lock against the row's), and PostgreSQL broke the deadlock by failing one."""
    if reason := await dbs.postgres_unavailable():
        pytest.skip(reason)
    async with dbs.database_url("postgres", tmp_path) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        channel_id = await watched_channel(sessions)
        async with sessions() as s:
            channel = await s.get(Channel, channel_id)
        assert channel is not None
        photo = "ab" * 32
        async with sessions() as observer:
            locked = await changes.lock_channel(observer, channel_id)
            logged = asyncio.create_task(
                transaction(
                    sessions,
                    lambda s: ledger.note_media(s, channel, 0, photo, 10, "image/jpeg"),
                    attempts=1,
                )
            )
            await asyncio.sleep(0.5)  # the photo's record is in, its transaction still open
            await ledger.note_channel(observer, locked, "test")
            await observer.commit()
        await asyncio.wait_for(logged, 10)
        async with sessions() as s:
            problems, _ = await ledger.check_db(s)
            kinds_logged = list(await s.scalars(select(LogRecord.type).order_by(LogRecord.seq)))
        assert problems == [] and kinds_logged[-2:] == ["media", "channel"], kinds_logged
        await engine.dispose()
