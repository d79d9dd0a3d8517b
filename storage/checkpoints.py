"""Daily checkpoints: each UTC day's records under a signed RFC 6962 Merkle root.

A day still running gets an interim checkpoint when a pack needs one; once the day is over
the sealing job signs its final one. The statement signed is canonical JSON of the day, the
first and last seq, the count, the root, the chain hash before the day and at its end, the
key's fingerprint and when it was signed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chanwatch.proofcheck import GENESIS, leaf_hash
from storage import merkle
from storage.ledger import canonical, day_of, lock
from storage.models import Checkpoint, LogRecord
from storage.types import utcnow


class Signing(Protocol):
    @property
    def fingerprint(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class DayTree:
    """A day's records (up to a seq) as the tree and chain rows a pack carries."""

    first_seq: int
    rows: list[LogRecord]
    levels: list[list[bytes]]

    def path(self, seq: int) -> list[str]:
        return [h.hex() for h in merkle.audit_path(self.levels, seq - self.first_seq)]


async def day_tree(session: AsyncSession, first_seq: int, last_seq: int) -> DayTree:
    """The records first_seq..last_seq (one day's, or its start) as a tree."""
    rows = list(
        await session.scalars(
            select(LogRecord)
            .where(LogRecord.seq >= first_seq, LogRecord.seq <= last_seq)
            .order_by(LogRecord.seq)
        )
    )
    leaves = [leaf_hash(r.record.encode()) for r in rows]
    return DayTree(rows[0].seq if rows else 0, rows, merkle.merkle_levels(leaves))


async def _chain_before(session: AsyncSession, seq: int) -> bytes:
    prev = await session.scalar(select(LogRecord.chain_hash).where(LogRecord.seq == seq - 1))
    return bytes.fromhex(prev) if prev else GENESIS


async def seal(
    session: AsyncSession, signer: Signing, *, now: datetime | None = None, today: bool = False
) -> list[Checkpoint]:
    """Sign every finished day not signed in full yet (and today so far, with `today`)."""
    now = now or utcnow()
    current = day_of(now)
    made = []
    await lock(session)  # one sealer at a time, and no append while the days are read
    # Days before the last final checkpoint are sealed for good: look only after it.
    sealed = await session.scalar(
        select(func.max(Checkpoint.last_seq)).where(Checkpoint.final.is_(True))
    )
    spans = (
        await session.execute(
            select(LogRecord.day, func.min(LogRecord.seq), func.max(LogRecord.seq), func.count())
            .where(LogRecord.seq > (sealed or 0))
            .group_by(LogRecord.day)
            .order_by(LogRecord.day)
        )
    ).all()
    for day, first, last, count in spans:
        if day >= current and not today:
            continue
        existing = await session.scalar(
            select(Checkpoint).where(Checkpoint.day == day, Checkpoint.last_seq == last)
        )
        if existing is not None:
            if day < current and not existing.final:
                existing.final = True
            continue
        tree = await day_tree(session, first, last)
        if len(tree.rows) != count or tree.rows[-1].seq - first + 1 != count:
            raise RuntimeError(f"the log of {day} has gaps: seq {first}-{last}, {count} rows")
        statement = canonical(
            {
                "v": 1,
                "day": day,
                "first_seq": first,
                "last_seq": last,
                "count": count,
                "root": tree.levels[-1][0].hex(),
                "prev_chain": (await _chain_before(session, first)).hex(),
                "chain_head": tree.rows[-1].chain_hash,
                "key_fingerprint": signer.fingerprint,
                "signed_at": now.isoformat(),
            }
        )
        cp = Checkpoint(
            day=day,
            first_seq=first,
            last_seq=last,
            final=day < current,
            statement=statement.decode(),
            signature=signer.sign(statement).hex(),
            key_fingerprint=signer.fingerprint,
            created_at=now,
            tsa_tokens=[],
            tsa_attempts=0,
            tsa_next_at=now,
        )
        session.add(cp)
        made.append(cp)
    await session.flush()
    return made


def as_json(cp: Checkpoint) -> dict[str, Any]:
    """A checkpoint as a pack carries it."""
    return {
        "statement": cp.statement,
        "signature": cp.signature,
        "tsa_tokens": list(cp.tsa_tokens),
        "final": cp.final,
    }


async def covering(session: AsyncSession, day: str) -> Checkpoint | None:
    """The latest checkpoint of `day`."""
    return await session.scalar(
        select(Checkpoint)
        .where(Checkpoint.day == day)
        .order_by(Checkpoint.last_seq.desc())
        .limit(1)
    )


async def needing_timestamp(
    session: AsyncSession, now: datetime, limit: int = 20
) -> list[Checkpoint]:
    """Checkpoints without a token whose next try is due."""
    return list(
        await session.scalars(
            select(Checkpoint)
            .where(Checkpoint.tsa_next_at.is_not(None), Checkpoint.tsa_next_at <= now)
            .order_by(Checkpoint.id)
            .limit(limit)
        )
    )


def record_tokens(
    cp: Checkpoint,
    tokens: list[dict[str, str]],
    error: str | None,
    now: datetime,
    backoff: timedelta,
) -> None:
    """Keep the tokens got; retry later (backoff doubling) where a TSA did not answer."""
    if tokens:
        cp.tsa_tokens = [*cp.tsa_tokens, *tokens]
    cp.tsa_attempts += 1
    cp.tsa_error = error
    if error is None:
        cp.tsa_next_at = None
    else:
        cp.tsa_next_at = now + min(backoff * 2 ** min(cp.tsa_attempts - 1, 10), timedelta(hours=6))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
