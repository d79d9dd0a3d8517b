"""Build a channel's proof pack: its log records with proofs, checkpoints, media and a page.

The pack is written to a temporary file beside the target and renamed into place, so a
failed export never leaves half a ZIP. Its manifest.json (SHA-256 of every other file) is
itself appended to the log as a "pack" record and sealed by a signed checkpoint
(seal.json), so no file can change unnoticed.

Writing the ZIP is blocking file work, done in the exporting coroutine on purpose: an
export is one user's command (CLI or /pack), not part of collection's event loop work.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chanwatch import proofcheck
from chanwatch.keys import Signer
from chanwatch.packhtml import render_page
from chanwatch.tsa import Timestamper
from storage import channels, checkpoints, export, ledger
from storage.db import SessionMaker, transaction
from storage.mediastore import MediaStore
from storage.models import Channel, Checkpoint, LogRecord
from storage.types import utcnow

BOT_UPLOAD_LIMIT = 50 * 1024 * 1024
VERIFY_MD = """# Checking this proof pack

`python verify.py` in this folder (Python 3.11+ and `pip install cryptography`, nothing
else; `--tsa-cert CA.pem` to check who signed the timestamp tokens) checks everything
below and prints what fails. By hand:

1. `manifest.json` lists the SHA-256 of every other file; `sha256sum` each one.
2. `seal.json` holds a log record whose `manifest_sha256` is the SHA-256 of `manifest.json`,
   with its inclusion proof to a signed checkpoint: so the manifest is in the signed log.
3. Each line of `records.jsonl` is one observation: `record` is its canonical JSON (keys
   sorted, no whitespace, UTF-8). Its hash is SHA-256(record); its Merkle leaf is
   SHA-256(0x00 ‖ record); `path` is its RFC 6962 / RFC 9162 inclusion proof (interior node
   = SHA-256(0x01 ‖ left ‖ right)) to the root of its day.
4. `chain.jsonl` has, for every record of the days covered (other channels' too, by hash
   only), `record_hash`, `leaf` and `chain` = SHA-256(previous chain ‖ record hash).
   Rows marked `pack` are this channel's records, all of which must be in records.jsonl.
5. `checkpoints.json`: each `statement` (canonical JSON: day, first and last seq, count,
   root, chain hash before the day and at its end, key fingerprint) is signed with
   Ed25519 by `public_key.pem` (`signature`, hex). The key's fingerprint is SHA-256 of the
   raw 32-byte public key; compare it with the one the publisher announced (`chanwatch
   key` on their installation): anyone can re-sign a pack with a key of their own, so only
   that comparison, `verify.py --key FINGERPRINT` or the timestamps tie it to the publisher.
6. `tsa_tokens` are RFC 3161 TimeStampResp (base64 DER) over statement ‖ signature bytes:
   `openssl ts -verify -data <that file> -in token.tsr -CAfile tsa-ca.pem`.
7. `media/aa/bb/<sha256>` files are named by their SHA-256.
"""


class PackFailed(Exception):
    """The pack cannot be built (unknown channel, unwritable target); one line."""


@dataclass(frozen=True)
class PackResult:
    path: Path
    channel: str
    records: int
    media_files: int
    size: int


async def _channel_records(
    s: AsyncSession, channel: Channel, since: date | None, until: date | None
) -> list[LogRecord]:
    stmt = select(LogRecord).where(LogRecord.channel_id == channel.id).order_by(LogRecord.seq)
    if since is not None:
        stmt = stmt.where(LogRecord.day >= since.isoformat())
    if until is not None:
        stmt = stmt.where(LogRecord.day <= until.isoformat())
    return list(await s.scalars(stmt))


async def build(
    sessions: SessionMaker,
    ref: int | str,
    signer: Signer,
    out: Path,
    *,
    media_dir: Path,
    since: date | None = None,
    until: date | None = None,
    lang: str = "en",
    tsa_certs: Iterable[Path] = (),
    timestamper: Timestamper | None = None,
) -> PackResult:
    """Write the pack of channel `ref` to `out`; with a timestamper, its checkpoints are
    timestamped first where the authorities answer (a pack is never held up by them)."""
    async with sessions() as s:
        channel = await channels.find(s, ref)
    if channel is None:
        raise PackFailed(f"no channel {ref!r} in the database")
    await transaction(sessions, lambda s: checkpoints.seal(s, signer, today=True))
    if timestamper is not None:
        await timestamper.run_once()

    target = out.resolve()  # noqa: ASYNC240 - see the module's docstring
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".pack-", suffix=".zip", dir=target.parent)
    except OSError as exc:
        raise PackFailed(f"cannot write {out}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        result = await _write(
            sessions,
            channel,
            signer,
            tmp,
            media_dir,
            since,
            until,
            lang,
            list(tsa_certs),
            timestamper,
        )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # noqa: ASYNC240
        raise
    return PackResult(target, result[0], result[1], result[2], target.stat().st_size)


async def _write(
    sessions: SessionMaker,
    channel: Channel,
    signer: Signer,
    tmp: Path,
    media_dir: Path,
    since: date | None,
    until: date | None,
    lang: str,
    tsa_certs: list[Path],
    timestamper: Timestamper | None,
) -> tuple[str, int, int]:
    files: dict[str, str] = {}
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:

        def put(name: str, data: bytes) -> None:
            files[name] = hashlib.sha256(data).hexdigest()
            archive.writestr(name, data)

        async with sessions() as s:
            channel_records = await _channel_records(s, channel, since, until)
            days = sorted({r.day for r in channel_records})
            signed_days, chain_rows, record_lines, kept = [], [], [], []
            for day in days:
                checkpoint = await checkpoints.covering(s, day)
                if checkpoint is None:
                    continue
                tree = await checkpoints.day_tree(s, checkpoint.first_seq, checkpoint.last_seq)
                signed_days.append(checkpoints.as_json(checkpoint))
                ours = {
                    r.seq for r in channel_records if r.day == day and r.seq <= checkpoint.last_seq
                }
                for i, row in enumerate(tree.rows):
                    chain_rows.append(
                        {
                            "seq": row.seq,
                            "record_hash": row.record_hash,
                            "leaf": tree.levels[0][i].hex(),
                            "chain": row.chain_hash,
                            **({"pack": True} if row.seq in ours else {}),
                        }
                    )
                    if row.seq in ours:
                        kept.append(row)
                        record_lines.append(
                            {"seq": row.seq, "record": row.record, "path": tree.path(row.seq)}
                        )
            posts = [r async for r in export.rows(s, channel) if r["record"] == "post"]
            events = [r async for r in export.rows(s, channel) if r["record"] == "event"]
            name = channel.username or str(channel.tg_id)
            channel_info = {
                "tg_id": channel.tg_id,
                "username": channel.username,
                "title": channel.title,
                "labels": sorted(channel.labels),
            }

        put("records.jsonl", _jsonl(record_lines))
        put("chain.jsonl", _jsonl(chain_rows))
        put("checkpoints.json", json.dumps(signed_days, indent=1).encode())
        put("public_key.pem", signer.public_pem())
        put("posts.jsonl", _jsonl(posts))
        put("events.jsonl", _jsonl(events))
        put("VERIFY.md", VERIFY_MD.encode())
        put("verify.py", Path(proofcheck.__file__).read_bytes())  # noqa: ASYNC240
        for i, cert in enumerate(tsa_certs):
            put(f"tsa/ca-{i}.pem", cert.read_bytes())

        media: dict[str, Path] = {}
        for row in kept:
            if row.type == "media":
                digest = str(json.loads(row.record).get("sha256", ""))
                path = MediaStore(media_dir).path(digest)
                if len(digest) == 64 and path.is_file():
                    media[digest] = path
        for digest, path in sorted(media.items()):
            arc = f"media/{digest[0:2]}/{digest[2:4]}/{digest}"
            files[arc] = _file_sha256(path)
            archive.write(path, arc, compress_type=zipfile.ZIP_STORED)

        page = render_page(
            channel_info,
            [(r.record_hash, json.loads(r.record)) for r in kept],
            media,
            lang=lang,
            fingerprint=signer.fingerprint,
        )
        put("index.html", page.encode())

        manifest = {
            "format": "chanwatch-pack/1",
            "channel": channel_info,
            "created_at": utcnow().isoformat(),
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "key_fingerprint": signer.fingerprint,
            "files": dict(sorted(files.items())),
        }
        manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
        archive.writestr("manifest.json", manifest_bytes)
        seal, cp_id = await _seal(
            sessions, channel, signer, hashlib.sha256(manifest_bytes).hexdigest()
        )
        if timestamper is not None:
            await timestamper.run_once()
            async with sessions() as s:
                checkpoint = await s.get(Checkpoint, cp_id)
                assert checkpoint is not None
                seal["checkpoint"] = checkpoints.as_json(checkpoint)
        archive.writestr("seal.json", json.dumps(seal, indent=1).encode())
    return name, len(record_lines), len(media)


async def _seal(
    sessions: SessionMaker, channel: Channel, signer: Signer, manifest_sha256: str
) -> tuple[dict[str, Any], int]:
    """Log the manifest's hash and sign the day so far; the record with its proof."""

    async def work(s: AsyncSession) -> tuple[dict[str, Any], int]:
        body = {"channel_tg_id": channel.tg_id, "manifest_sha256": manifest_sha256}
        entry = ledger.Entry("pack", body, channel.id, f"pack:{channel.tg_id}")
        (seq,) = await ledger.append(s, [entry], ledger.source_of("export", "pack"))
        record = await s.get(LogRecord, seq)
        assert record is not None
        await checkpoints.seal(s, signer, today=True)
        cp = await checkpoints.covering(s, record.day)
        assert cp is not None
        tree = await checkpoints.day_tree(s, cp.first_seq, cp.last_seq)
        seal = {
            "record": record.record,
            "path": tree.path(seq),
            "checkpoint": checkpoints.as_json(cp),
        }
        return seal, cp.id

    return await transaction(sessions, work)


def _jsonl(rows: Iterable[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
