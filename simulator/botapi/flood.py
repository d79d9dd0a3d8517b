"""Flood limits of the simulated Bot API: token buckets on a monotonic clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BotAPILimits", "FloodControl"]


@dataclass
class BotAPILimits:
    """Telegram's sending limits as the simulator enforces them.

    Each chat has a token bucket (private chats: ``per_chat_per_second`` refill,
    ``per_chat_burst`` capacity; chats with a negative id: ``per_group_per_minute``
    per 60 s, capacity ``per_group_per_minute``) and all chats share one more bucket
    (``overall_per_second``, ``overall_burst``). A message is accepted only when both
    buckets hold a token; otherwise the request gets 429 and nothing is delivered.

    A message sent with ``allow_paid_broadcast`` needs a token of the paid bucket
    (``paid_per_second``, ``paid_burst``: Telegram's 1,000 msg/s) instead of the overall
    one; it still takes an overall token when there is one, and when there is none it is
    charged (counted in ``FloodControl.charged``, as Telegram takes Stars for it).
    """

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    overall_per_second: float = 30.0
    overall_burst: int = 30
    per_group_per_minute: int = 20
    paid_per_second: float = 1000.0
    paid_burst: int = 1000
    #: Fixed ``retry_after`` for every 429; ``None`` computes it from the bucket
    #: deficit (rounded up, at least 1 second).
    retry_after: int | None = None
    #: Whether editMessageText/Caption/ReplyMarkup take a token like a new message.
    count_edits: bool = True


@dataclass
class _Bucket:
    level: float
    stamp: float


class FloodControl:
    """Per-chat and overall token buckets; ``check`` is atomic inside one event loop."""

    def __init__(self, limits: BotAPILimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._chats: dict[int, _Bucket] = {}
        self._overall: _Bucket | None = None
        self._paid: _Bucket | None = None
        #: Paid-broadcast messages sent above the free overall limit, ever.
        self.charged = 0

    def reset(self, limits: BotAPILimits | None = None) -> None:
        """Forget all buckets (they start full again), optionally with new limits."""
        if limits is not None:
            self.limits = limits
        self._chats.clear()
        self._overall = None
        self._paid = None

    def _chat_rate(self, chat_id: int) -> tuple[float, float]:
        lim = self.limits
        if chat_id < 0:
            return lim.per_group_per_minute / 60.0, float(max(1, lim.per_group_per_minute))
        return lim.per_chat_per_second, float(max(1, lim.per_chat_burst))

    @staticmethod
    def _refill(bucket: _Bucket, rate: float, capacity: float, now: float) -> None:
        elapsed = max(0.0, now - bucket.stamp)
        bucket.level = min(capacity, bucket.level + elapsed * rate)
        bucket.stamp = max(bucket.stamp, now)

    def check(self, chat_id: int, cost: int = 1, *, paid: bool = False) -> int | None:
        """Take ``cost`` tokens for ``chat_id``; return ``None`` or the retry_after.

        With ``paid`` (``allow_paid_broadcast``) the paid bucket stands in for the overall
        one. When the request is refused no token is taken from any bucket.
        """
        lim = self.limits
        now = self.clock()
        chat_rate, chat_cap = self._chat_rate(chat_id)
        all_rate = lim.overall_per_second
        all_cap = float(max(1, lim.overall_burst))
        chat = self._chats.setdefault(chat_id, _Bucket(chat_cap, now))
        if self._overall is None:
            self._overall = _Bucket(all_cap, now)
        overall = self._overall
        self._refill(chat, chat_rate, chat_cap, now)
        self._refill(overall, all_rate, all_cap, now)
        need_chat = min(float(cost), chat_cap)
        need_all = min(float(cost), all_cap)
        waits = []
        if chat.level + 1e-9 < need_chat:
            waits.append(_wait(need_chat - chat.level, chat_rate))
        limiting, rate, need = overall, all_rate, need_all
        if paid:
            paid_cap = float(max(1, lim.paid_burst))
            if self._paid is None:
                self._paid = _Bucket(paid_cap, now)
            self._refill(self._paid, lim.paid_per_second, paid_cap, now)
            limiting, rate, need = self._paid, lim.paid_per_second, min(float(cost), paid_cap)
        if limiting.level + 1e-9 < need:
            waits.append(_wait(need - limiting.level, rate))
        if waits:
            if lim.retry_after is not None:
                return max(1, int(lim.retry_after))
            return max(1, math.ceil(max(waits) - 1e-9))
        chat.level -= need_chat
        if paid:
            limiting.level -= need
            free = max(0.0, min(need_all, math.floor(overall.level + 1e-9)))
            overall.level -= free
            self.charged += cost - int(free)
        else:
            overall.level -= need_all
        return None


def _wait(deficit: float, rate: float) -> float:
    if rate <= 0:
        return 3600.0
    return deficit / rate
