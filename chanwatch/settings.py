"""Settings, read once from the environment and `.env` by the composition root."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/chanwatch.db"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_api_id: int | None = None
    telegram_api_hash: SecretStr | None = None
    telethon_session: Path = Path("data/chanwatch.session")
    bot_token: SecretStr | None = None
    moderator_ids: Annotated[tuple[int, ...], NoDecode] = ()
    database_url: str = DEFAULT_DATABASE_URL
    bot_api_base_url: str = "https://api.telegram.org"
    timezone: str = "UTC"
    digest_schedule: str = "mon 09:00"
    digest_grace_hours: float = Field(default=48.0, ge=0)
    log_level: str = "INFO"

    join_cap: int = Field(default=450, ge=0, le=500)
    poll_min_seconds: float = Field(default=60.0, gt=0)
    poll_max_seconds: float = Field(default=1800.0, gt=0)
    refresh_seconds: float = Field(default=900.0, gt=0)
    reconcile_window_hours: float = Field(default=72.0, gt=0)
    reconcile_seconds: float = Field(default=600.0, gt=0)
    subscribers_jump_pct: float = Field(default=10.0, gt=0)
    subscribers_jump_window_hours: float = Field(default=24.0, gt=0)
    delivery_rate: float = Field(default=30.0, gt=0)
    delivery_per_chat_rate: float = Field(default=1.0, gt=0)

    # Where the simulated Telegram listens (demo and scenario tests); empty means real Telegram.
    mtproto_simulator: str = ""

    # telethon, web or both; empty: telethon when Telegram credentials exist, else web.
    collector: str = ""
    web_preview_base_url: str = "https://t.me"
    # Requests per second to the web preview's host (0.5: one every 2 s).
    web_preview_rate: float = Field(default=0.5, gt=0)
    web_preview_max_bytes: int = Field(default=2_000_000, gt=0)

    @field_validator("collector")
    @classmethod
    def _check_collector(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("", "telethon", "web", "both"):
            raise ValueError(f"{value!r} is not one of telethon, web, both")
        return value

    @property
    def collector_kind(self) -> str:
        """The collectors to run: the account's, the web preview's, or both."""
        if self.collector:
            return self.collector
        has_account = bool(self.mtproto_simulator) or (
            self.telegram_api_id is not None and self.telegram_api_hash is not None
        )
        return "telethon" if has_account else "web"

    @field_validator("moderator_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            items = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
            for item in items:
                if not item.lstrip("-").isdigit():
                    raise ValueError(f"{item!r} is not a numeric Telegram user id")
            return tuple(int(v) for v in items)
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        backend = url.get_backend_name()
        if backend == "sqlite":
            return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
        if backend in ("postgresql", "postgres"):
            return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("digest_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def missing_telegram_credentials(self) -> list[str]:
        """Names of the variables `chanwatch run` needs and does not have."""
        missing = []
        if not self.mtproto_simulator and self.collector_kind != "web":
            if self.telegram_api_id is None:
                missing.append("TELEGRAM_API_ID")
            if self.telegram_api_hash is None:
                missing.append("TELEGRAM_API_HASH")
        if self.bot_token is None:
            missing.append("BOT_TOKEN")
        return missing


def parse_schedule(value: str) -> tuple[tuple[str, ...], int, int]:
    """'mon 09:00' or 'mon,thu 18:30' -> (days, hour, minute)."""
    parts = value.strip().lower().split()
    if len(parts) != 2:
        raise ValueError(f"{value!r} is not '<days> HH:MM', e.g. 'mon 09:00'")
    days = tuple(d.strip() for d in parts[0].split(",") if d.strip())
    if not days or any(d not in WEEKDAYS for d in days):
        raise ValueError(f"{parts[0]!r} is not a list of day names ({','.join(WEEKDAYS)})")
    hh, _, mm = parts[1].partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"{parts[1]!r} is not a time HH:MM")
    return days, int(hh), int(mm)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning any validation problem into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "setting"
        msg = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {msg}") from None
