"""Debian's headless Chromium as the pack page's reader: one set of switches for the page
tests and the page benchmark, so both see the page the same way."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def command(profile: Path, *extra: str) -> list[str]:
    """Chromium headless with a private profile and no way off the machine."""
    return [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1100,1600",
        # No name resolves but the loopback: Chromium's own traffic (updates, accounts) never
        # leaves the machine, and the pages' requests are told apart by their isolation key.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--no-pings",
        "--disable-features=SpellCheck,Translate,OptimizationHints,MediaRouter,NetworkTimeServiceQuerying",
        *extra,
    ]
