"""The simulated world's public web preview (t.me/s pages) over real HTTP."""

from .server import WebPreviewSimulator, abbreviate

__all__ = ["WebPreviewSimulator", "abbreviate"]
