"""The digest's subscriber chart: one panel per channel, stacked, as a PNG.

A digest reader follows their own set of channels, so a run with 10,000 readers
may need 10,000 different charts, and drawing a matplotlib figure costs tens of
milliseconds. So a chart is put together from horizontal strips, each drawn once
per run and reused by every chart that shows it:

* the header (title, time zone), once per language;
* per channel, a title strip (name; count at the start and end, with the change),
  once per channel and language;
* per channel, its curve over the period on its own y scale (so a channel of 2,000
  is as readable as one of 500,000), once per channel: the numbers on its axis are
  grouped with a thin space, which reads right in both languages;
* the day labels under each curve, once per language (every panel has the same
  x axis).

Each strip is drawn with matplotlib (``Agg``, a ``Figure`` of its own, never
pyplot), reduced to a fixed 256-colour palette and compressed once. A reader's
PNG is then stitched from the strips without drawing or compressing again: the
image data of a PNG is one zlib stream over all rows, and deflate data that ends
on a sync flush can be followed by more deflate data, so the strips' compressed
rows are concatenated and only the checksums are computed per chart.
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

# numpy and matplotlib (about 40 MB of a process) are loaded when the first strip is
# drawn, not when the digest is imported: a process that draws no chart all week
# does not carry them. Figures are drawn on the Agg canvas directly, never through
# pyplot, so no backend is chosen and no display is ever needed.
if TYPE_CHECKING:
    import numpy as np
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

__all__ = [
    "HEADER_HEIGHT",
    "MAX_PANELS",
    "PANEL_HEIGHT",
    "WIDTH",
    "Painter",
    "Strip",
    "change_text",
    "chart_size",
    "day_ticks",
    "drawable",
    "render_curve",
    "render_days",
    "render_header",
    "render_title",
    "stitch",
]

WIDTH = 800
HEADER_HEIGHT = 56
TITLE_HEIGHT = 30
CURVE_HEIGHT = 96
DAYS_HEIGHT = 24
PANEL_HEIGHT = TITLE_HEIGHT + CURVE_HEIGHT + DAYS_HEIGHT
# Telegram shows a tall photo scaled down; past this many panels the chart shows
# the largest channels and the caption lists the rest.
MAX_PANELS = 12
_DPI = 100

_WHITE = (255, 255, 255)
_TEXT = "#1f2328"
_MUTED = "#59636e"
_GRID = "#d8dee4"
_LINE = (31, 95, 191)
_UP = (26, 127, 55)
_DOWN = (207, 34, 46)
_INKS = (_LINE, _UP, _DOWN)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ADLER_MOD = 65521
# The final (empty) deflate block that closes a stream of sync-flushed pieces.
_FINAL_BLOCK = zlib.compressobj(9, zlib.DEFLATED, -15).flush()

# matplotlib does not promise thread safety; strips are drawn one at a time.
_DRAW_LOCK = threading.Lock()


@dataclass(frozen=True)
class Strip:
    """Rows of the chart, filtered (type 0) and deflated, ready to be stitched."""

    height: int
    deflated: bytes
    adler: int
    raw_len: int


def chart_size(panels: int) -> tuple[int, int]:
    """(width, height) in pixels of a chart with ``panels`` channel panels."""
    return WIDTH, HEADER_HEIGHT + PANEL_HEIGHT * panels


# --------------------------------------------------------------------------- palette


@cache
def _palette() -> np.ndarray:
    """256 colours: a grey ramp and a ramp from white to each ink (anti-aliased edges)."""
    import numpy as np

    colours: list[tuple[int, int, int]] = []
    for i in range(64):
        v = round(255 * i / 63)
        colours.append((v, v, v))
    for ink in _INKS:
        for i in range(1, 65):
            f = i / 64
            r, g, b = (round(w + (c - w) * f) for w, c in zip(_WHITE, ink, strict=True))
            colours.append((r, g, b))
    return np.array(colours, dtype=np.uint8)


@cache
def _lut() -> np.ndarray:
    """Palette index of the nearest colour for every 15-bit RGB cell."""
    import numpy as np

    cells = np.arange(32768, dtype=np.int32)
    # Cell values 0..31 spread over 0..255, so that pure white and black stay exact.
    rgb = np.rint(np.stack([(cells >> 10) & 31, (cells >> 5) & 31, cells & 31], axis=1) * 255 / 31)
    rgb = rgb.astype(np.int32)
    palette = _palette().astype(np.int32)
    best = np.zeros(32768, dtype=np.uint8)
    best_d = np.full(32768, np.iinfo(np.int32).max, dtype=np.int64)
    for index, colour in enumerate(palette):
        d = ((rgb - colour) ** 2).sum(axis=1)
        closer = d < best_d
        best[closer] = index
        best_d[closer] = d[closer]
    return best


def _to_strip(canvas: FigureCanvasAgg) -> Strip:
    # FigureCanvasAgg's methods carry no annotations.
    canvas.draw()  # type: ignore[no-untyped-call]
    return _buffer_strip(canvas)


def _buffer_strip(canvas: FigureCanvasAgg) -> Strip:
    """The strip of what is on the canvas now (drawn in full, or blitted onto)."""
    import numpy as np

    # FigureCanvasAgg's methods carry no annotations.
    rgba = np.asarray(canvas.buffer_rgba())  # type: ignore[no-untyped-call]
    r = rgba[..., 0].astype(np.uint16) >> 3
    g = rgba[..., 1].astype(np.uint16) >> 3
    b = rgba[..., 2].astype(np.uint16) >> 3
    indices = _lut()[(r << 10) | (g << 5) | b]
    height, width = indices.shape
    if width != WIDTH:  # pragma: no cover - figure sizes are fixed below
        raise ValueError(f"strip is {width} px wide, expected {WIDTH}")
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) per row
    rows[:, 1:] = indices
    raw = rows.tobytes()
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Strip(height=height, deflated=deflated, adler=zlib.adler32(raw), raw_len=len(raw))


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    """An 8-bit RGB colour as matplotlib takes it (0..1)."""
    r, g, b = colour
    return r / 255, g / 255, b / 255


def _figure(height_px: int) -> tuple[Figure, FigureCanvasAgg]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH / _DPI, height_px / _DPI), dpi=_DPI, facecolor="white")
    return fig, FigureCanvasAgg(fig)


# --------------------------------------------------------------------------- text


@cache
def _charmap() -> frozenset[int]:
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    return frozenset(font_manager.get_font(path).get_charmap())


_SPACES = re.compile(r"\s+")


def drawable(text: str, limit: int = 60) -> str:
    """``text`` without characters the chart font cannot draw (emoji…), clipped."""
    chars = _charmap()
    kept = "".join(c if ord(c) in chars else " " for c in text)
    kept = _SPACES.sub(" ", kept).strip()
    return kept if len(kept) <= limit else kept[: limit - 1].rstrip() + "…"


def _number(value: float, lang: str) -> str:
    return format_decimal(round(value), locale=lang)


def change_text(start: int, end: int, lang: str) -> str:
    diff = end - start
    sign = "+" if diff > 0 else ("−" if diff < 0 else "±")
    text = f"{_number(start, lang)} → {_number(end, lang)} ({sign}{_number(abs(diff), lang)}"
    if start > 0:
        share = round(abs(diff) / start, 3)  # a tenth of a percent
        text += f", {sign}{format_percent(share, locale=lang, decimal_quantization=False)}"
    return text + ")"


# --------------------------------------------------------------------------- strips

# The plot area's left and right edges, as fractions of the width; the day labels
# strip puts its labels under the same positions.
_LEFT, _RIGHT = 0.09, 0.98


def render_header(title: str, subtitle: str) -> Strip:
    """The chart's title strip."""
    with _DRAW_LOCK:
        fig, canvas = _figure(HEADER_HEIGHT)
        fig.text(
            0.02,
            0.62,
            drawable(title, 90),
            fontsize=14,
            weight="bold",
            color=_TEXT,
            va="center",
            parse_math=False,
        )
        fig.text(
            0.02,
            0.2,
            drawable(subtitle, 110),
            fontsize=9,
            color=_MUTED,
            va="center",
            parse_math=False,
        )
        return _to_strip(canvas)


class Painter:
    """Draws title and curve strips, keeping one figure of each kind between strips.

    Building a matplotlib figure with its axes and ticks costs more than drawing it;
    the strips of one run differ only in their texts, colours and data, so those
    are set on the kept figure and it is drawn again. The pixels are the same as
    from a fresh figure (tests/test_digest_content.py pins them).
    """

    def __init__(self) -> None:
        self._title: tuple[FigureCanvasAgg, Text, Text] | None = None
        self._curve: tuple[FigureCanvasAgg, Axes, Line2D] | None = None
        self._curve_axis: tuple[datetime, datetime, tzinfo] | None = None
        # The curve strip's background and x axis, the same under every curve.
        self._curve_background: Any = None
        self._title_background: Any = None

    def titles(
        self, title: str, start: int | None, end: int | None, langs: Sequence[str]
    ) -> list[Strip]:
        """A channel's name, and its count at the start and end of the period, in each
        of ``langs`` (the name is drawn once, the counts once per language)."""
        with _DRAW_LOCK:
            if self._title is None:
                fig, canvas = _figure(TITLE_HEIGHT)
                name = fig.text(
                    _LEFT,
                    0.4,
                    "",
                    fontsize=10,
                    weight="bold",
                    color=_TEXT,
                    va="center",
                    parse_math=False,
                )
                change = fig.text(
                    _RIGHT, 0.4, "", fontsize=9, ha="right", va="center", parse_math=False
                )
                change.set_visible(False)
                # The empty strip, drawn once: each title is drawn onto a copy of it
                # (blitting, as for curves), not as a whole figure again.
                # FigureCanvasAgg's methods carry no annotations.
                canvas.draw()  # type: ignore[no-untyped-call]
                self._title_background = canvas.copy_from_bbox(fig.bbox)  # type: ignore[no-untyped-call]
                self._title = (canvas, name, change)
            canvas, name, change = self._title
            name.set_text(drawable(title))
            change.set_visible(False)
            # FigureCanvasAgg's methods carry no annotations.
            canvas.restore_region(self._title_background)  # type: ignore[no-untyped-call]
            canvas.figure.draw_artist(name)
            if start is None or end is None:
                strip = _buffer_strip(canvas)
                return [strip for _ in langs]
            # Blitting, as for curves: the counts are drawn after the name, as in a full draw.
            # FigureCanvasAgg's methods carry no annotations.
            background = canvas.copy_from_bbox(canvas.figure.bbox)  # type: ignore[no-untyped-call]
            ink = _UP if end > start else (_DOWN if end < start else None)
            change.set_color(_MUTED if ink is None else _rgb(ink))
            change.set_visible(True)
            strips = []
            for lang in langs:
                # FigureCanvasAgg's methods carry no annotations.
                canvas.restore_region(background)  # type: ignore[no-untyped-call]
                change.set_text(change_text(start, end, lang))
                canvas.figure.draw_artist(change)
                strips.append(_buffer_strip(canvas))
            return strips

    def curve(
        self,
        series: Sequence[tuple[datetime, int]],
        start: datetime,
        end: datetime,
        tz: tzinfo,
        start_count: int | None,
    ) -> Strip:
        """A channel's count over the period as a step curve; no words, so any language."""
        from matplotlib.ticker import MaxNLocator

        x0, x1 = _local(start, tz), _local(end, tz)
        points = [(_local(t, tz), v) for t, v in series]
        if start_count is not None:
            points.insert(0, (x0, start_count))
        if points:
            points.append((x1, points[-1][1]))
        with _DRAW_LOCK:
            canvas, ax, line = self._curve_figure()
            if self._curve_axis != (start, end, tz):
                # matplotlib's stubs type x values as floats; its date converter takes datetimes.
                ax.set_xlim(x0, x1)  # type: ignore[arg-type]
                ax.set_xticks(day_ticks(start, end, tz))  # type: ignore[arg-type]
                self._curve_axis = (start, end, tz)
                self._curve_background = self._draw_background(canvas, ax, line)
            if points:
                ys = [p[1] for p in points]
                # A datetime x axis, as in set_xlim above.
                line.set_data([p[0] for p in points], ys)  # type: ignore[arg-type]
                line.set_visible(True)
                low, high = min(ys), max(ys)
                pad = max((high - low) * 0.15, max(high, 1) * 0.005, 1)
                ax.set_ylim(low - pad, high + pad)
                ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
            else:
                line.set_visible(False)
                ax.set_yticks([])
            # Matplotlib's blitting: the parts that differ are drawn over the kept
            # background in the order a full draw uses (axes by z-order: the y axis
            # with the x axis, below the line, below the spines), so the pixels are
            # those of a full draw.
            # FigureCanvasAgg's methods carry no annotations.
            canvas.restore_region(self._curve_background)  # type: ignore[no-untyped-call]
            for artist in (ax.yaxis, line, ax.spines["left"], ax.spines["bottom"]):
                if artist.get_visible():
                    ax.draw_artist(artist)
            return _buffer_strip(canvas)

    @staticmethod
    def _draw_background(canvas: FigureCanvasAgg, ax: Axes, line: Line2D) -> Any:
        varying: tuple[Artist, ...] = (ax.yaxis, line, ax.spines["left"], ax.spines["bottom"])
        shown = [artist.get_visible() for artist in varying]
        for artist in varying:
            artist.set_visible(False)
        # FigureCanvasAgg's methods carry no annotations.
        canvas.draw()  # type: ignore[no-untyped-call]
        background = canvas.copy_from_bbox(canvas.figure.bbox)  # type: ignore[no-untyped-call]
        for artist, visible in zip(varying, shown, strict=True):
            artist.set_visible(visible)
        return background

    def _curve_figure(self) -> tuple[FigureCanvasAgg, Axes, Line2D]:
        if self._curve is None:
            from matplotlib.ticker import FuncFormatter

            fig, canvas = _figure(CURVE_HEIGHT)
            ax = fig.add_axes((_LEFT, 0.08, _RIGHT - _LEFT, 0.86))
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            for side in ("left", "bottom"):
                ax.spines[side].set_color(_GRID)
            ax.tick_params(labelsize=8, colors=_MUTED, length=3, labelbottom=False)
            ax.grid(True, color=_GRID, linewidth=0.8)
            ax.set_axisbelow(True)
            (line,) = ax.plot(
                [],
                [],
                color=_rgb(_LINE),
                linewidth=1.6,
                drawstyle="steps-post",
            )
            # Labels show only where there are ticks: a curve without counts has none.
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _grouped(v)))
            self._curve = (canvas, ax, line)
        return self._curve


def _local(dt: datetime, tz: tzinfo) -> datetime:
    return dt.astimezone(tz).replace(tzinfo=None)


def day_ticks(start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """Local midnights inside ``[start, end]`` (naive local time, as the axes use)."""
    first = _local(start, tz)
    last = _local(end, tz)
    day = datetime(first.year, first.month, first.day)
    if day < first:
        day += timedelta(days=1)
    ticks = []
    while day <= last:
        ticks.append(day)
        day += timedelta(days=1)
    return ticks


def _grouped(value: float) -> str:
    """An integer with thin-space grouping: right in Russian, readable in English."""
    return f"{round(value):,}".replace(",", "\u2009").replace("-", "−")


def render_title(title: str, start: int | None, end: int | None, lang: str) -> Strip:
    """One title strip on a figure of its own (see :meth:`Painter.titles`)."""
    return Painter().titles(title, start, end, [lang])[0]


def render_curve(
    series: Sequence[tuple[datetime, int]],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    start_count: int | None,
) -> Strip:
    """One curve strip on a figure of its own (see :meth:`Painter.curve`)."""
    return Painter().curve(series, start, end, tz, start_count)


def render_days(start: datetime, end: datetime, tz: tzinfo, lang: str) -> Strip:
    """The day labels under a curve ("Mon 17", "пн 17"), aligned with its day lines."""
    x0, x1 = _local(start, tz), _local(end, tz)
    span = (x1 - x0).total_seconds() or 1.0
    with _DRAW_LOCK:
        fig, canvas = _figure(DAYS_HEIGHT)
        for day in day_ticks(start, end, tz):
            x = _LEFT + (_RIGHT - _LEFT) * (day - x0).total_seconds() / span
            fig.text(
                x,
                0.62,
                format_date(day, "EEE d", locale=lang),
                fontsize=8,
                color=_MUTED,
                ha="center",
                va="center",
                parse_math=False,
            )
        return _to_strip(canvas)


# --------------------------------------------------------------------------- PNG


def _adler_combine(first: int, second: int, second_len: int) -> int:
    """Adler-32 of A+B from the checksums of A and B and the length of B."""
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_MOD
    b = (b1 + b2 + second_len * (a1 - 1)) % _ADLER_MOD
    return (b << 16) | a


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def stitch(strips: Sequence[Strip]) -> bytes:
    """A palette PNG of the strips stacked top to bottom."""
    if not strips:
        raise ValueError("a chart needs at least one strip")
    height = sum(s.height for s in strips)
    adler = 1
    for s in strips:
        adler = _adler_combine(adler, s.adler, s.raw_len)
    stream = b"".join(
        [b"\x78\x9c", *(s.deflated for s in strips), _FINAL_BLOCK, struct.pack(">I", adler)]
    )
    header = struct.pack(">IIBBBBB", WIDTH, height, 8, 3, 0, 0, 0)
    return b"".join(
        [
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", _palette().tobytes()),
            _chunk(b"IDAT", stream),
            _chunk(b"IEND", b""),
        ]
    )
