"""This installation's Ed25519 signing key: made at first start, kept 0600 in a 0700 folder."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chanwatch.proofcheck import fingerprint
from chanwatch.proofcheck import pretty as pretty  # where the CLI and /status take it from


class SigningKeyError(Exception):
    """The key file exists but cannot be read as an Ed25519 private key."""


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def load_or_create(path: Path) -> Signer:
    """The key at `path`, made there (0600, folder 0700) when there is none yet."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"signing key {path} is unreadable ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"signing key {path} is not an Ed25519 key")
        return Signer(key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Two roles starting at once in one folder must neither write different keys nor read
    # a half-written one: write a private temporary file, then link it into place, which
    # fails when another process linked its key first.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.link(tmp, path)
    except FileExistsError:
        return load_or_create(path)
    finally:
        os.unlink(tmp)
    return Signer(key)


def load(path: Path) -> Signer:
    """The key at `path`; SigningKeyError when it is missing or unreadable (never made here)."""
    if not path.is_file():
        raise SigningKeyError(f"no signing key at {path}")
    return load_or_create(path)
