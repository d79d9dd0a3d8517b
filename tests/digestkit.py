"""The digest service as the digest tests build it: the seeded week's clock, schedule and
time zone, and the real translator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.digest import DigestService, Period
from bot.digest.builder import Composer
from bot.i18n import Translator
from chanwatch.settings import Settings
from storage.db import SessionMaker
from tests.seeds import NOW, SCHEDULE, TIMEZONE, World, seed_world

T = Translator.load()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "timezone": TIMEZONE,
        "digest_schedule": SCHEDULE,
        "digest_grace_hours": 48.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_service(
    sessions: SessionMaker,
    *,
    now: datetime = NOW,
    cls: type[DigestService] = DigestService,
    settings: Settings | None = None,
    **kw: Any,
) -> DigestService:
    return cls(sessions, T, settings or make_settings(), clock=lambda: now, **kw)


async def seed(
    sessions: SessionMaker,
    period: Period,
    *,
    channels: int = 24,
    posts: int = 2500,
    subscribers: int = 40,
    **kw: Any,
) -> World:
    return await seed_world(
        sessions,
        period.start,
        period.end,
        channels=channels,
        posts=posts,
        subscribers=subscribers,
        **kw,
    )


def period_label(service: DigestService, period: Period, lang: str) -> str:
    return Composer(T, service.tz, period, {}).period_label(lang)
