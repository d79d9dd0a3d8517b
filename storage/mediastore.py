"""The content-addressed file store: each file kept once, named by its SHA-256.

`<root>/ab/cd/abcd…` holds the bytes whose SHA-256 is `abcd…`. A file is written under a
temporary name in `<root>/tmp/`, flushed to disk, hashed, and renamed into place, so a
`kill -9` leaves at most a temporary file (cleared at the next start), never a half
file under a hash name; identical bytes arriving twice are stored once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

CHUNK = 1 << 20
PRIVATE_DIR = 0o700


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def prepare(self) -> int:
        """Create the folders (private) and clear what a crash left; temporary files removed."""
        self.tmp.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(self.root, PRIVATE_DIR)
        os.chmod(self.tmp, PRIVATE_DIR)
        removed = 0
        for leftover in self.tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
        return removed

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def temp_path(self) -> Path:
        """A fresh name to download into; hand it to `commit` when the download is done."""
        return self.tmp / f"{uuid.uuid4().hex}.part"

    def commit(self, temp: Path) -> tuple[str, int]:
        """Move a finished download into the store; (its SHA-256, its size in bytes)."""
        digest = hashlib.sha256()
        size = 0
        with temp.open("rb+") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(f.fileno())
        sha = digest.hexdigest()
        final = self.path(sha)
        if final.is_file():
            temp.unlink()
            return sha, size
        final.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(temp, 0o600)
        os.replace(temp, final)
        return sha, size

    def discard(self, temp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def read(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def total_bytes(self) -> int:
        """Bytes under the store's hash names (temporary files not counted)."""
        total = 0
        for first in self.root.iterdir():
            if first.is_dir() and first.name != "tmp":
                total += sum(p.stat().st_size for p in first.glob("*/*") if p.is_file())
        return total
