"""What a `chanwatch run` process carries before it has anything to draw.

matplotlib and numpy are about 40 MB of the process (issue #16 bounds its memory);
they are loaded when the first digest chart is drawn, not at start.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bot.digest import chart

_PROBE = (
    "import json, sys, chanwatch.app, chanwatch.cli; "
    "print(json.dumps(sorted(m for m in ('matplotlib', 'numpy') if m in sys.modules)))"
)


def test_starting_chanwatch_does_not_load_the_chart_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_chart_is_still_drawn_once_the_library_is_loaded() -> None:
    strip = chart.render_header("Digest", "Europe/Moscow")
    png = chart.stitch([strip])
    assert png.startswith(b"\x89PNG") and strip.height == chart.HEADER_HEIGHT
