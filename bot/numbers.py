"""The one reader of numbers that users type or buttons carry.

Only ASCII digits count: "²" and "①" are digits to ``str.isdigit`` but not to ``int``,
and "٣" is a number to ``int`` that nobody meant as a Telegram id. Every number is
bounded, so a 25-digit one never reaches the database.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

# Bot API: user ids have at most 52 significant bits.
USER_ID_MAX = 2**52 - 1
# Our own row ids are 64-bit signed integers in both databases.
ROW_ID_MAX = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_number(raw: str | int, low: int, high: int) -> int | None:
    """``raw`` as an int within ``[low, high]``, or None for anything else."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if low <= raw <= high else None
    text = str(raw).strip()
    if _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if low <= value <= high else None


def user_id(raw: str) -> int | None:
    """A Telegram user id typed by a moderator."""
    return parse_number(raw, 1, USER_ID_MAX)


def _row_id(value: object) -> int:
    number = parse_number(value if isinstance(value, int | str) else "", 0, ROW_ID_MAX)
    if number is None:
        raise ValueError("not a row id")
    return number


# A callback data field that is one of our row ids (or a page number): anything else in
# a (possibly forged) button fails to unpack, and the press is answered as a stale button.
RowId = Annotated[int, BeforeValidator(_row_id)]
