"""Settings, read once from the environment and `.env` by the composition root."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.media import DOWNLOADABLE

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/chanwatch.db"
# Bot API: user ids have at most 52 significant bits.
USER_ID_MAX = 2**52 - 1
# What @BotFather hands out: the bot's numeric id, a colon, a secret of URL-safe characters.
_TOKEN_RE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
# libpq's sslmode values; asyncpg takes the same words as its ssl= parameter.
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_PASSWORD_RE = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def mask_password(url: str) -> str:
    """A database URL as it may be shown: the password replaced with ***."""
    return _PASSWORD_RE.sub(r"\1***@", url)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# Bot API messages per second to different chats: free, and with allow_paid_broadcast.
FREE_RATE_LIMIT = 30
PAID_RATE_LIMIT = 1000


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # "inf" and "nan" parse as floats but mean nothing as a rate or an interval.
        allow_inf_nan=False,
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
    # Collectors divide the watched channels by lease; a holder renews every third of it.
    collector_lease_seconds: float = Field(default=60.0, ge=1)
    # A flood wait on reading longer than this hands the account's channels to another.
    flood_handover_seconds: float = Field(default=300.0, gt=0)
    delivery_rate: float = Field(default=30.0, gt=0, le=PAID_RATE_LIMIT)
    delivery_per_chat_rate: float = Field(default=1.0, gt=0)
    # Telegram's paid broadcasts: up to 1,000 msg/s, charged in Stars above the free limit.
    delivery_paid_broadcast: bool = False

    media_dir: Path = Path("data/media")
    media_max_mb: float = Field(default=20.0, ge=0)
    media_kinds: Annotated[tuple[str, ...], NoDecode] = tuple(
        k for k in DOWNLOADABLE if k != "sticker"
    )
    media_max_total_gb: float | None = Field(default=None, gt=0)
    # Proof packs: the installation's Ed25519 key, the RFC 3161 authorities.
    signing_key_path: Path = Path("data/keys/signing_key.pem")
    tsa_urls: Annotated[tuple[str, ...], NoDecode] = ()
    tsa_ca_certs: Annotated[tuple[Path, ...], NoDecode] = ()

    # Where the simulated Telegram listens (demo and scenario tests); empty means real Telegram.
    mtproto_simulator: str = ""
    # /healthz for probes; 0 serves none.
    health_port: int = Field(default=0, ge=0, le=65535)
    health_host: str = "127.0.0.1"

    # telethon, web or both; empty: telethon when Telegram credentials exist, else web.
    collector: str = ""
    web_preview_base_url: str = "https://t.me"
    # Requests per second to the web preview's host (0.5: one every 2 s).
    web_preview_rate: float = Field(default=0.5, gt=0)
    web_preview_max_bytes: int = Field(default=2_000_000, gt=0)
    # With both: unjoined channels the account polls itself; the rest are the preview's.
    account_poll_cap: int | None = Field(default=None, ge=0)

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
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            items = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
            for item in items:
                if not (item.isascii() and item.isdigit() and 0 < int(item) <= USER_ID_MAX):
                    raise ValueError(
                        f"{item[:30]!r} is not a Telegram user id (1 to {USER_ID_MAX})"
                    )
            return tuple(int(v) for v in items)
        return value

    @field_validator("media_kinds", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        if isinstance(value, str):
            items = tuple(v.strip().lower() for v in value.split(",") if v.strip())
            unknown = [v for v in items if v not in DOWNLOADABLE]
            if unknown:
                raise ValueError(f"{unknown[0]!r} is not one of {', '.join(DOWNLOADABLE)}")
            return items
        return value

    @field_validator("media_max_total_gb", "account_poll_cap", mode="before")
    @classmethod
    def _empty_is_unlimited(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Never echo the value: it is a secret even when it is malformed.
        if value is not None and not _TOKEN_RE.fullmatch(value.get_secret_value().strip()):
            raise ValueError(
                "is not a bot token from @BotFather (digits, a colon, then the secret)"
            )
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("bot_api_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value[:80]!r} is not an http(s):// URL of a Bot API server")
        return value.strip().rstrip("/")

    @field_validator("tsa_urls", "tsa_ca_certs", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.replace(";", ",").split(",") if v.strip())
        return value

    @field_validator("tsa_urls")
    @classmethod
    def _check_tsa(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(f"{mask_password(value)!r} is not a database URL") from None
        backend = url.get_backend_name()
        if backend == "sqlite":
            return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
        if backend in ("postgresql", "postgres"):
            query = dict(url.query)
            if "sslmode" in query:
                mode = query.pop("sslmode")
                if mode not in _SSLMODES:
                    raise ValueError(f"sslmode={mode!r} is not one of {', '.join(_SSLMODES)}")
                query["ssl"] = mode  # asyncpg's name for libpq's sslmode
            url = url.set(drivername="postgresql+asyncpg", query=query)
            return url.render_as_string(hide_password=False)
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")

    @model_validator(mode="after")
    def _check_poll_bounds(self) -> Self:
        if self.poll_min_seconds > self.poll_max_seconds:
            raise ValueError(
                f"POLL_MIN_SECONDS {self.poll_min_seconds:g} is above "
                f"POLL_MAX_SECONDS {self.poll_max_seconds:g}"
            )
        return self

    @model_validator(mode="after")
    def _check_delivery_rate(self) -> Self:
        if self.delivery_rate > FREE_RATE_LIMIT and not self.delivery_paid_broadcast:
            raise ValueError(
                f"DELIVERY_RATE {self.delivery_rate:g} is above Telegram's free limit of "
                f"{FREE_RATE_LIMIT} messages per second: lower it, or set "
                "DELIVERY_PAID_BROADCAST=true (paid, up to 1000)"
            )
        return self

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

    @property
    def sqlite_in_memory(self) -> bool:
        """An in-memory SQLite database: gone when the process exits."""
        if not self.is_sqlite:
            return False
        name = make_url(self.database_url).database or ""
        return name in ("", ":memory:") or "mode=memory" in self.database_url

    def missing_telegram_credentials(self, roles: Collection[str] | None = None) -> list[str]:
        """Names of the variables `chanwatch run` (with these roles, or all) needs and does
        not have: the account's for the collector, the bot's for the bot and the sender."""
        missing = []
        collects = roles is None or "collector" in roles
        if collects and not self.mtproto_simulator and self.collector_kind != "web":
            if self.telegram_api_id is None:
                missing.append("TELEGRAM_API_ID")
            if self.telegram_api_hash is None:
                missing.append("TELEGRAM_API_HASH")
        if self.bot_token is None and (roles is None or {"bot", "sender"} & set(roles)):
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


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any validation problem into one line naming the variable."""
    # Any: the values are checked here, at run time, by Settings' own validation.
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if err["loc"]:
            name = str(err["loc"][0]).upper()
        else:  # a check across settings names its variables itself
            name, _, msg = msg.partition(" ")
        raise SettingsError(f"invalid setting {name}: {msg}") from None
