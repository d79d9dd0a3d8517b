"""Keep secrets out of logs and the Telethon session file private."""

from __future__ import annotations

import logging
import os
from pathlib import Path


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a log record's final text."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self._secrets:
                text = text.replace(secret, "[redacted]")
            record.exc_text, record.exc_info = text, None
        return True


def setup_logging(level: str, secrets: list[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("telethon").setLevel(max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


class SessionPathError(Exception):
    """The Telethon session file cannot be used; the message is one line."""


def private_session_path(path: Path) -> Path:
    """The Telethon session file, created 0600 in a 0700 folder before Telethon opens it.

    A symlink there is refused: it would point the session (the account's key) elsewhere.
    """
    if path.suffix != ".session":
        path = path.with_name(path.name + ".session")
    try:
        if path.is_symlink():
            raise SessionPathError(f"TELETHON_SESSION {path} is a symlink; give a plain file")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SessionPathError(
            f"TELETHON_SESSION {path} cannot be written ({exc.strerror or exc})"
        ) from None
    return path
