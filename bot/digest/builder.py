"""What a digest says: the period's per-channel aggregates, and each reader's text.

Channels are shared by many readers, so everything about a channel is computed
once per period (:func:`load_weeks`: a fixed number of queries for all channels
together) and rendered once per channel and language (:class:`Composer`); a
reader's digest is then put together from those pieces, and a reader's chart
from strips drawn once per channel (:class:`Charts`).

What the numbers mean (``Digest.stats`` keeps them, per channel and in total);
the period is ``[start, end)``:

* ``posts``: posts published in the period (``Post.date``), deleted ones included;
* ``deleted``: posts deleted in the period (``Post.deleted_at``), whenever published;
* ``edits``: new versions of posts recorded in the period (``PostVersion.seen_at``,
  versions after the first); ``notable_edits``: those that changed at least one word;
* ``events``: channel events of the period (labels, restrictions, title, username,
  description, reachability, subscriber jumps; ``Event.occurred_at``);
* ``subscribers_start``: the last count taken before the start, or else the first one
  in the period; ``subscribers_end``: the last count taken in the period, or else
  the start count (``ChannelSnapshot``);
* top posts: published in the period and not deleted, by views or forwards, the
  highest first and the newer post first on a tie.

A week in which none of the reader's channels has posts, deletions, edits or
channel events is "empty": the digest is then one line, without a chart.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from babel.dates import format_datetime, format_interval
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.digest import chart
from bot.i18n import Translator
from bot.render import (
    ChannelRef,
    EventView,
    channel_link,
    esc,
    plain_title,
    post_url,
    render_event,
)
from bot.textsplit import CAPTION_LIMIT, MESSAGE_LIMIT, split_html, truncate, visible_len
from bot.worddiff import diff_html
from storage import kinds, payloads
from storage.models import Channel, ChannelSnapshot, Event, Post, PostVersion, held_username

log = logging.getLogger(__name__)
R = TypeVar("R")

__all__ = [
    "ChannelWeek",
    "Charts",
    "Composed",
    "Composer",
    "Period",
    "load_weeks",
]

TOP_N = 5
DELETED_SHOWN = 10
EDITS_SHOWN = 5
EXCERPT_LEN = 90
ARCHIVE_LEN = 400
DIFF_LEN = 300
NOTICE_LEN = 300
# Characters of a post's text read for deleted posts and edits (shown clipped).
TEXT_READ = 2000
_CHUNK = 900  # channel ids per IN (...) list
_WORD_RE = re.compile(r"\w+", re.UNICODE)
# ASCII only: "²" and "①" are digits to str.isdigit() but not numbers to int().
_DIGITS_RE = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class Period:
    """A digest period ``[start, end)`` (aware UTC) and its key in our tables."""

    key: str
    start: datetime
    end: datetime


# --------------------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class TopPost:
    channel_id: int
    message_id: int
    value: int
    text: str
    media_kind: str | None


@dataclass(frozen=True)
class EventRow:
    id: int
    channel_id: int
    kind: str
    payload: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class DeletedRow:
    channel_id: int
    message_id: int
    date: datetime
    deleted_at: datetime
    text: str


@dataclass(frozen=True)
class EditRow:
    channel_id: int
    message_id: int
    version: int
    before: str
    after: str
    at: datetime
    score: int


@dataclass
class ChannelWeek:
    """Everything a digest says about one channel in one period."""

    id: int
    ref: ChannelRef
    posts: int = 0
    deleted: int = 0
    edits: int = 0
    notable_edits: int = 0
    subscribers_start: int | None = None
    subscribers_end: int | None = None
    series: list[tuple[datetime, int]] = field(default_factory=list)
    top_views: list[TopPost] = field(default_factory=list)
    top_forwards: list[TopPost] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    deleted_rows: list[DeletedRow] = field(default_factory=list)
    edit_rows: list[EditRow] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return not (self.posts or self.deleted or self.edits or self.events)

    @property
    def has_counts(self) -> bool:
        return self.subscribers_start is not None

    def stats(self) -> dict[str, Any]:
        change = None
        if self.subscribers_start is not None and self.subscribers_end is not None:
            change = self.subscribers_end - self.subscribers_start
        return {
            "posts": self.posts,
            "deleted": self.deleted,
            "edits": self.edits,
            "notable_edits": self.notable_edits,
            "events": len(self.events),
            "subscribers_start": self.subscribers_start,
            "subscribers_end": self.subscribers_end,
            "subscribers_change": change,
        }


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _edit_score(before: str, after: str) -> int:
    """Words added or removed (ignoring case, spacing, punctuation and formatting)."""
    a = Counter(_WORD_RE.findall(before.lower()))
    b = Counter(_WORD_RE.findall(after.lower()))
    return sum(((a - b) + (b - a)).values())


async def load_weeks(
    session: AsyncSession, period: Period, channel_ids: Collection[int]
) -> dict[int, ChannelWeek]:
    """Aggregates of ``period`` for the given channels, with a fixed number of queries."""
    ids = sorted(set(channel_ids))
    weeks: dict[int, ChannelWeek] = {}
    for chunk in _chunks(ids):
        await _load_chunk(session, period, chunk, weeks)
    return weeks


async def _load_chunk(
    session: AsyncSession, period: Period, ids: Sequence[int], weeks: dict[int, ChannelWeek]
) -> None:
    start, end = period.start, period.end
    for channel in await session.execute(
        select(
            Channel.id,
            Channel.tg_id,
            Channel.title,
            Channel.username,
            Channel.reachable,
            Channel.unavailable_reason,
        ).where(Channel.id.in_(ids))
    ):
        username = held_username(channel.username, channel.reachable, channel.unavailable_reason)
        weeks[channel.id] = ChannelWeek(
            channel.id, ChannelRef(channel.tg_id, channel.title or "", username)
        )
    if not weeks:
        return

    published = and_(Post.channel_id.in_(ids), Post.date >= start, Post.date < end)
    for cid, count in await session.execute(
        select(Post.channel_id, func.count()).where(published).group_by(Post.channel_id)
    ):
        weeks[cid].posts = count

    gone = and_(Post.channel_id.in_(ids), Post.deleted_at >= start, Post.deleted_at < end)
    for cid, count in await session.execute(
        select(Post.channel_id, func.count()).where(gone).group_by(Post.channel_id)
    ):
        weeks[cid].deleted = count

    # Top posts: the first TOP_N of each channel are enough for any reader's top TOP_N.
    for column, target in ((Post.views, "top_views"), (Post.forwards, "top_forwards")):
        rank = (
            func.row_number()
            .over(partition_by=Post.channel_id, order_by=(column.desc(), Post.message_id.desc()))
            .label("rank")
        )
        ranked = (
            select(
                Post.channel_id,
                Post.message_id,
                column.label("value"),
                func.substr(Post.text, 1, EXCERPT_LEN * 3).label("text"),
                Post.media_kind,
                rank,
            )
            .where(published, Post.deleted_at.is_(None), column > 0)
            .subquery()
        )
        rows = await session.execute(
            select(ranked)
            .where(ranked.c.rank <= TOP_N)
            .order_by(ranked.c.channel_id, ranked.c.rank)
        )
        for row in rows:
            getattr(weeks[row.channel_id], target).append(
                TopPost(row.channel_id, row.message_id, row.value, row.text or "", row.media_kind)
            )

    for ev in await session.execute(
        select(Event.id, Event.channel_id, Event.kind, Event.payload, Event.occurred_at)
        .where(
            Event.channel_id.in_(ids),
            Event.kind.in_(kinds.CHANNEL_KINDS),
            Event.occurred_at >= start,
            Event.occurred_at < end,
        )
        .order_by(Event.occurred_at, Event.id)
    ):
        weeks[ev.channel_id].events.append(
            EventRow(ev.id, ev.channel_id, ev.kind, ev.payload or {}, ev.occurred_at)
        )

    # Deleted posts, the earliest deletions first; a reader sees at most DELETED_SHOWN.
    order = func.row_number().over(
        partition_by=Post.channel_id, order_by=(Post.deleted_at, Post.message_id)
    )
    ranked = (
        select(
            Post.channel_id,
            Post.message_id,
            Post.date,
            Post.deleted_at,
            func.substr(Post.text, 1, TEXT_READ).label("text"),
            order.label("rank"),
        )
        .where(gone)
        .subquery()
    )
    for row in await session.execute(
        select(ranked).where(ranked.c.rank <= DELETED_SHOWN).order_by(ranked.c.rank)
    ):
        weeks[row.channel_id].deleted_rows.append(
            DeletedRow(
                row.channel_id,
                row.message_id,
                row.date,
                row.deleted_at,
                row.text or "",
            )
        )

    # Edits: every new version recorded in the period, with the text it replaced.
    prev = aliased(PostVersion)
    edits = await session.execute(
        select(
            Post.channel_id,
            Post.message_id,
            PostVersion.version,
            PostVersion.edit_date,
            PostVersion.seen_at,
            func.substr(prev.text, 1, TEXT_READ).label("before"),
            func.substr(PostVersion.text, 1, TEXT_READ).label("after"),
        )
        .join(Post, Post.id == PostVersion.post_id)
        .outerjoin(
            prev, and_(prev.post_id == PostVersion.post_id, prev.version == PostVersion.version - 1)
        )
        .where(
            Post.channel_id.in_(ids),
            PostVersion.version > 1,
            PostVersion.seen_at >= start,
            PostVersion.seen_at < end,
        )
    )
    candidates: dict[int, list[EditRow]] = {}
    for row in edits:
        week = weeks[row.channel_id]
        week.edits += 1
        before, after = row.before or "", row.after or ""
        score = _edit_score(before, after)
        if score > 0:
            week.notable_edits += 1
            at = row.edit_date or row.seen_at
            candidates.setdefault(row.channel_id, []).append(
                EditRow(row.channel_id, row.message_id, row.version, before, after, at, score)
            )
    for cid, found in candidates.items():
        found.sort(key=lambda e: (-e.score, -e.at.timestamp(), -e.message_id))
        weeks[cid].edit_rows = found[:EDITS_SHOWN]

    # Subscriber counts: the last count before the start, then every count in the period.
    last = (
        func.row_number()
        .over(
            partition_by=ChannelSnapshot.channel_id,
            order_by=(ChannelSnapshot.taken_at.desc(), ChannelSnapshot.id.desc()),
        )
        .label("rank")
    )
    before_start = (
        select(ChannelSnapshot.channel_id, ChannelSnapshot.participants, last)
        .where(
            ChannelSnapshot.channel_id.in_(ids),
            ChannelSnapshot.taken_at < start,
            ChannelSnapshot.participants.is_not(None),
        )
        .subquery()
    )
    for cid, participants, _rank in await session.execute(
        select(before_start).where(before_start.c.rank == 1)
    ):
        weeks[cid].subscribers_start = participants
    for cid, taken_at, participants in await session.execute(
        select(ChannelSnapshot.channel_id, ChannelSnapshot.taken_at, ChannelSnapshot.participants)
        .where(
            ChannelSnapshot.channel_id.in_(ids),
            ChannelSnapshot.taken_at >= start,
            ChannelSnapshot.taken_at < end,
            ChannelSnapshot.participants.is_not(None),
        )
        .order_by(ChannelSnapshot.channel_id, ChannelSnapshot.taken_at, ChannelSnapshot.id)
    ):
        if participants is not None:  # always so (see the WHERE); the column is nullable
            weeks[cid].series.append((taken_at, participants))
    for week in weeks.values():
        if week.subscribers_start is None and week.series:
            week.subscribers_start = week.series[0][1]
        if week.series:
            week.subscribers_end = week.series[-1][1]
        else:
            week.subscribers_end = week.subscribers_start


# --------------------------------------------------------------------------- texts


def _excerpt(text: str, limit: int) -> str:
    """The first line of ``text``, clipped (plain text)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return truncate(first, limit)


@dataclass
class _ChannelText:
    """One channel's pieces of text in one language."""

    overview: str
    caption: str
    events: list[tuple[datetime, int, str]]
    deleted: list[tuple[datetime, int, int, str]]
    edits: list[tuple[int, float, int, int, str]]
    top_views: list[tuple[int, int, int, str]]
    top_forwards: list[tuple[int, int, int, str]]


@dataclass
class Composed:
    """One reader's digest: its items, the messages they pack into, the chart caption."""

    items: list[str]
    messages: list[str]
    caption: str | None
    chart_channels: list[int]
    stats: dict[str, Any]


class Composer:
    """Builds readers' digests of one period from the channels' aggregates.

    Each channel's texts are rendered once per language and reused for every
    reader who follows it.
    """

    def __init__(
        self,
        t: Translator,
        tz: tzinfo,
        period: Period,
        weeks: dict[int, ChannelWeek],
        *,
        title_key: str = "dg-title",
    ) -> None:
        self.t = t
        self.tz = tz
        self.period = period
        self.weeks = weeks
        self.title_key = title_key
        self._texts: dict[tuple[int, str], _ChannelText] = {}
        self._period_labels: dict[str, str] = {}
        self._wording: dict[tuple[Any, ...], str] = {}
        # Visible lengths of the pieces readers share (channel texts, wording), so
        # that packing a reader's messages measures only what is theirs alone.
        self._sizes: dict[str, int] = {}
        # What a channel's texts hold in every language (diffs, clipped post texts):
        # made once, not once per language.
        self._any_lang: dict[tuple[Any, ...], str] = {}
        self._natural: dict[int, tuple[list[tuple[int, int | str]], int]] = {}

    # -- helpers -------------------------------------------------------------------

    def get(self, lang: str, key: str, **args: Any) -> str:
        """``Translator.get``, remembered: readers share most of their wording."""
        memo = (lang, key, *sorted(args.items()))
        text = self._wording.get(memo)
        if text is None:
            text = self._wording[memo] = self.t.get(lang, key, **args)
        return text

    def once(self, key: tuple[Any, ...], make: Callable[[], str]) -> str:
        """``make()``, remembered under ``key``: for text that is the same in every language."""
        text = self._any_lang.get(key)
        if text is None:
            text = self._any_lang[key] = make()
        return text

    def measure(self, piece: str) -> int:
        """``visible_len`` of a piece shared by readers, remembered."""
        size = self._sizes.get(piece)
        if size is None:
            size = self._sizes[piece] = visible_len(piece)
        return size

    def _order(self, week: ChannelWeek) -> tuple[list[tuple[int, int | str]], int]:
        """A reader's channels in natural order of their titles (the key made once each)."""
        key = self._natural.get(week.id)
        if key is None:
            key = self._natural[week.id] = (_natural(plain_title(week.ref)), week.id)
        return key

    def lang(self, lang: str | None) -> str:
        return lang if lang in self.t.languages else self.t.default

    def period_label(self, lang: str) -> str:
        if lang not in self._period_labels:
            start = self.period.start.astimezone(self.tz)
            end = self.period.end.astimezone(self.tz)
            self._period_labels[lang] = format_interval(start, end, "yMMMd", locale=lang)
        return self._period_labels[lang]

    def when(self, dt: datetime, lang: str) -> str:
        return format_datetime(dt, "EEE d MMM, HH:mm", tzinfo=self.tz, locale=lang)

    def tz_name(self) -> str:
        return str(getattr(self.tz, "key", self.tz))

    def _subscribers(self, week: ChannelWeek, lang: str) -> str:
        before, after = week.subscribers_start, week.subscribers_end
        if before is None or after is None:
            return self.get(lang, "dg-subscribers-unknown")
        if before == after:
            return self.get(lang, "dg-subscribers-flat", after=after)
        diff = after - before
        pct = abs(diff) * 100.0 / before if before else 0.0
        return self.get(
            lang,
            "dg-subscribers",
            before=before,
            after=after,
            sign="+" if diff > 0 else "−",
            diff=abs(diff),
            pct=round(pct, 1),
        )

    def _counts(self, lang: str, posts: int, deleted: int, edits: int) -> list[str]:
        parts = [self.get(lang, "dg-count-posts", count=posts)]
        if deleted:
            parts.append(self.get(lang, "dg-count-deleted", count=deleted))
        if edits:
            parts.append(self.get(lang, "dg-count-edited", count=edits))
        return parts

    def _event_html(self, ev: EventRow, week: ChannelWeek, lang: str) -> str:
        payload = payloads.load(ev.kind, ev.payload)
        if isinstance(payload, payloads.AboutChanged):
            head = self.get(lang, "ev-channel-about-changed", channel=channel_link(week.ref))
            body = self.once(
                ("about", ev.id),
                lambda: diff_html(payload.before or "", payload.after or "", max_len=DIFF_LEN),
            ) or esc(self.get(lang, "common-empty"))
            text = f"{head}\n<blockquote>{body}</blockquote>"
        else:
            # A digest line quotes a notice, not the whole archived text.
            clipped = {
                key: truncate(value, NOTICE_LEN)
                for key in ("text", "detail")
                if isinstance(value := getattr(payload, key, None), str)
            }
            view = EventView(ev.kind, payload.model_copy(update=clipped), week.ref, ev.occurred_at)
            text = "\n".join(render_event(self.t, lang, view))
        return f"<i>{esc(self.when(ev.occurred_at, lang))}</i> · {text}"

    def _top_html(self, post: TopPost, week: ChannelWeek, lang: str, key: str) -> str:
        excerpt = self.once(
            ("excerpt", post.channel_id, post.message_id), lambda: _excerpt(post.text, EXCERPT_LEN)
        )
        if not excerpt:
            excerpt = self.get(lang, "dg-post-no-text", id=str(post.message_id))
        url = post_url(week.ref, post.message_id)
        value = self.get(lang, key, count=post.value)
        return f'{channel_link(week.ref)} · <a href="{esc(url)}">{esc(excerpt)}</a> — {esc(value)}'

    def _deleted_html(self, row: DeletedRow, week: ChannelWeek, lang: str) -> str:
        post = self.get(lang, "post-link-deleted", id=str(row.message_id))
        when = self.get(
            lang,
            "dg-deleted-when",
            deleted=self.when(row.deleted_at, lang),
            published=self.when(row.date, lang),
        )
        head = f"🗑 {channel_link(week.ref)} · {esc(post)}\n<i>{esc(when)}</i>"
        if not row.text.strip():
            return f"{head}\n{esc(self.get(lang, 'ev-post-deleted-no-text'))}"
        quote = self.once(
            ("deleted", row.channel_id, row.message_id),
            lambda: esc(truncate(row.text, ARCHIVE_LEN)),
        )
        return f"{head}\n<blockquote>{quote}</blockquote>"

    def _edit_html(self, row: EditRow, week: ChannelWeek, lang: str) -> str:
        url = post_url(week.ref, row.message_id)
        link = self.get(lang, "post-link")
        edited = self.get(lang, "dg-edited-at", when=self.when(row.at, lang))
        body = self.once(
            ("edit", row.channel_id, row.message_id, row.version),
            lambda: diff_html(row.before, row.after, max_len=DIFF_LEN),
        )
        return (
            f'✏️ {channel_link(week.ref)} · <a href="{esc(url)}">{esc(link)}</a>'
            f" · {esc(edited)}\n<blockquote>{body}</blockquote>"
        )

    def channel_text(self, week: ChannelWeek, lang: str) -> _ChannelText:
        key = (week.id, lang)
        cached = self._texts.get(key)
        if cached is not None:
            return cached
        counts = ", ".join(self._counts(lang, week.posts, week.deleted, week.edits))
        subscribers = self._subscribers(week, lang)
        overview = f"{channel_link(week.ref)} — {esc(counts)}\n{esc(subscribers)}"
        title = esc(truncate(plain_title(week.ref), 80))
        if week.subscribers_start is not None and week.subscribers_end is not None:
            change = chart.change_text(week.subscribers_start, week.subscribers_end, lang)
            caption = f"{title}: {esc(change)}"
        else:
            caption = f"{title}: {esc(self.get(lang, 'dg-subscribers-unknown'))}"
        text = _ChannelText(
            overview=overview,
            caption=caption,
            events=_each(
                week, week.events, lambda e: (e.occurred_at, e.id, self._event_html(e, week, lang))
            ),
            deleted=_each(
                week,
                week.deleted_rows,
                lambda d: (
                    d.deleted_at,
                    d.channel_id,
                    d.message_id,
                    self._deleted_html(d, week, lang),
                ),
            ),
            edits=_each(
                week,
                week.edit_rows,
                lambda e: (
                    -e.score,
                    -e.at.timestamp(),
                    e.channel_id,
                    e.message_id,
                    self._edit_html(e, week, lang),
                ),
            ),
            top_views=_each(
                week,
                week.top_views,
                lambda p: (
                    -p.value,
                    p.channel_id,
                    -p.message_id,
                    self._top_html(p, week, lang, "dg-views"),
                ),
            ),
            top_forwards=_each(
                week,
                week.top_forwards,
                lambda p: (
                    -p.value,
                    p.channel_id,
                    -p.message_id,
                    self._top_html(p, week, lang, "dg-forwards"),
                ),
            ),
        )
        for piece in (text.overview, text.caption):
            self.measure(piece)
        for group in (text.events, text.deleted, text.edits, text.top_views, text.top_forwards):
            for entry in group:
                self.measure(entry[-1])
        self._texts[key] = text
        return text

    # -- one reader ----------------------------------------------------------------

    def compose(self, lang: str | None, channel_ids: Iterable[int]) -> Composed:
        lang = self.lang(lang)
        weeks = sorted(
            (self.weeks[c] for c in set(channel_ids) if c in self.weeks), key=self._order
        )
        title = self.get(lang, self.title_key, period=self.period_label(lang))
        totals = {
            "posts": sum(w.posts for w in weeks),
            "deleted": sum(w.deleted for w in weeks),
            "edits": sum(w.edits for w in weeks),
            "notable_edits": sum(w.notable_edits for w in weeks),
            "events": sum(len(w.events) for w in weeks),
        }
        stats: dict[str, Any] = {
            "period": self.period.key,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "lang": lang,
            "channels": {str(w.id): w.stats() for w in weeks},
            "totals": totals,
        }
        if all(w.quiet for w in weeks):
            line = self.get(lang, "dg-empty", title=esc(title), count=len(weeks))
            stats.update(
                empty=True,
                events=[],
                top_views=[],
                top_forwards=[],
                deleted_shown=[],
                edits_shown=[],
                chart_channels=[],
                messages=1,
            )
            return Composed([line], [line], None, [], stats)

        texts = [self.channel_text(w, lang) for w in weeks]
        items: list[str] = []
        sizes: list[int] = []  # visible_len of each item, from its pieces' sizes

        def section(head: str, body: list[str], body_sizes: list[int]) -> None:
            head_html = f"<b>{esc(head)}</b>"
            head_size = visible_len(head_html)
            if body:
                items.append(f"{head_html}\n{body[0]}")
                sizes.append(head_size + 1 + body_sizes[0])
                items.extend(body[1:])
                sizes.extend(body_sizes[1:])
            else:
                items.append(head_html)
                sizes.append(head_size)

        def shared(body: list[str]) -> list[int]:
            return [self.measure(piece) for piece in body]

        summary = [self.get(lang, "dg-count-channels", count=len(weeks))]
        summary += self._counts(lang, totals["posts"], totals["deleted"], totals["edits"])
        summary.append(self.get(lang, "dg-count-events", count=totals["events"]))
        items.append(
            f"<b>{esc(title)}</b>\n{esc(' · '.join(summary))}\n"
            f"<i>{esc(self.get(lang, 'dg-timezone', tz=self.tz_name()))}</i>"
        )
        sizes.append(visible_len(items[-1]))

        # What happened to the channels comes first: it is what readers most need.
        events = sorted((e for text in texts for e in text.events), key=lambda e: e[:2])
        body = [e[2] for e in events] or [esc(self.get(lang, "dg-events-none"))]
        section(self.get(lang, "dg-section-events"), body, shared(body))

        body = [text.overview for text in texts]
        section(self.get(lang, "dg-section-channels"), body, shared(body))

        tops: dict[str, list[list[int]]] = {}
        for name, key in (
            ("top_views", "dg-section-top-views"),
            ("top_forwards", "dg-section-top-forwards"),
        ):
            best = sorted(e for text in texts for e in getattr(text, name))[:TOP_N]
            tops[name] = [[cid, -neg_mid, -neg_value] for neg_value, cid, neg_mid, _ in best]
            if best:
                # "1. " is ASCII: its visible length is its length.
                section(
                    self.get(lang, key),
                    [f"{i}. {entry[3]}" for i, entry in enumerate(best, start=1)],
                    [len(f"{i}. ") + self.measure(entry[3]) for i, entry in enumerate(best, 1)],
                )

        deleted_shown: list[list[int]] = []
        if totals["deleted"]:
            shown = sorted(e for text in texts for e in text.deleted)[:DELETED_SHOWN]
            deleted_shown = [[cid, mid] for _, cid, mid, _ in shown]
            body = [entry[3] for entry in shown]
            if totals["deleted"] > len(shown):
                more = self.get(lang, "dg-deleted-more", count=totals["deleted"] - len(shown))
                body.append(f"<i>{esc(more)}</i>")
            section(
                self.get(lang, "dg-section-deleted", count=totals["deleted"]), body, shared(body)
            )

        edits_shown: list[list[int]] = []
        if totals["notable_edits"]:
            shown_edits = sorted(e for text in texts for e in text.edits)
            shown_edits = shown_edits[:EDITS_SHOWN]
            edits_shown = [[cid, mid] for _, _, cid, mid, _ in shown_edits]
            body = [entry[4] for entry in shown_edits]
            if totals["notable_edits"] > len(shown_edits):
                more = self.get(
                    lang, "dg-edits-more", count=totals["notable_edits"] - len(shown_edits)
                )
                body.append(f"<i>{esc(more)}</i>")
            section(self.get(lang, "dg-section-edits"), body, shared(body))

        messages = split_html(items, MESSAGE_LIMIT, sizes=sizes)
        charted = [w for w in weeks if w.has_counts]
        charted.sort(key=lambda w: (-(w.subscribers_end or 0), w.id))
        chart_channels = [w.id for w in charted[: chart.MAX_PANELS]]
        caption = (
            self._caption(lang, [self.channel_text(w, lang) for w in charted]) if charted else None
        )
        stats.update(
            empty=False,
            events=[e[1] for e in events],
            top_views=tops["top_views"],
            top_forwards=tops["top_forwards"],
            deleted_shown=deleted_shown,
            edits_shown=edits_shown,
            chart_channels=chart_channels,
            messages=len(messages),
        )
        return Composed(items, messages, caption, chart_channels, stats)

    def _chart_more(self, lang: str, count: int) -> str:
        memo = (lang, "dg-chart-more-html", ("count", count))
        text = self._wording.get(memo)
        if text is None:
            text = self._wording[memo] = esc(self.get(lang, "dg-chart-more", count=count))
        return text

    def _caption(self, lang: str, texts: list[_ChannelText]) -> str:
        head = f"<b>{esc(self.get(lang, 'dg-chart-caption', period=self.period_label(lang)))}</b>"
        lines = [head]
        used = self.measure(head)
        for i, text in enumerate(texts):
            size = self.measure(text.caption) + 1
            rest = len(texts) - i
            more = self._chart_more(lang, rest)
            # Keep room for the "and N more" line unless this is the last channel.
            reserve = 0 if rest == 1 else self.measure(more) + 1
            if used + size + reserve > CAPTION_LIMIT:
                lines.append(more)
                break
            lines.append(text.caption)
            used += size
        return "\n".join(lines)


def _each(week: ChannelWeek, items: Iterable[Any], render: Callable[[Any], R]) -> list[R]:
    """Render each item; one that fails is logged and left out, never the whole digest."""
    out: list[R] = []
    for item in items:
        try:
            out.append(render(item))
        except Exception:  # odd data in one item must cost that item only
            log.exception("digest: leaving out an item of channel %d: %r", week.id, item)
    return out


def _natural(title: str) -> list[tuple[int, int | str]]:
    """Sort key that puts "Channel 2" before "Channel 10"."""
    parts = _DIGITS_RE.split(title.casefold())
    # split() puts the captured runs of digits at the odd positions.
    return [(0, int(p)) if i % 2 else (1, p) for i, p in enumerate(parts) if p]


# --------------------------------------------------------------------------- charts


class Charts:
    """Readers' charts of one period, stitched from strips drawn once per run.

    A panel is the channel's title strip (per language), its curve (any language)
    and the day labels (per language, the same under every curve).
    """

    def __init__(
        self, composer: Composer, languages: Mapping[int, Collection[str]] | None = None
    ) -> None:
        """``languages``: the languages of each channel's readers, when known, so that
        a channel's title strips are drawn together (its name once)."""
        self.composer = composer
        self.languages = languages or {}
        self._strips: dict[tuple[Any, ...], chart.Strip] = {}
        self._painter = chart.Painter()
        self.drawn = 0

    def png(self, lang: str, channel_ids: Sequence[int]) -> bytes | None:
        """The chart of these channels (in this order), or None without any.

        Only the strips are kept: stitching them takes microseconds, so readers
        with the same channels need no cache of whole images.
        """
        if not channel_ids:
            return None
        lang = self.composer.lang(lang)
        strips = [self._header(lang)]
        for cid in channel_ids:
            strips += [self._title(cid, lang), self._curve(cid), self._days(lang)]
        return chart.stitch(strips)

    def _strip(self, key: tuple[Any, ...], draw: Callable[[], chart.Strip]) -> chart.Strip:
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = draw()
            self.drawn += 1
        return strip

    def _header(self, lang: str) -> chart.Strip:
        c = self.composer
        title = c.get(lang, "dg-chart-title", period=c.period_label(lang))
        subtitle = c.get(lang, "dg-timezone", tz=c.tz_name())
        return self._strip(("header", lang), lambda: chart.render_header(title, subtitle))

    def _title(self, channel_id: int, lang: str) -> chart.Strip:
        key = ("title", channel_id, lang)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        week = self.composer.weeks[channel_id]
        known = {self.composer.lang(other) for other in self.languages.get(channel_id, ())}
        others = sorted(
            k for k in known if k != lang and ("title", channel_id, k) not in self._strips
        )
        langs = [lang, *others]
        drawn = self._painter.titles(
            plain_title(week.ref), week.subscribers_start, week.subscribers_end, langs
        )
        for other, other_strip in zip(langs, drawn, strict=True):
            self._strips[("title", channel_id, other)] = other_strip
        self.drawn += len(drawn)
        return drawn[0]

    def _curve(self, channel_id: int) -> chart.Strip:
        c = self.composer
        week = c.weeks[channel_id]
        return self._strip(
            ("curve", channel_id),
            lambda: self._painter.curve(
                week.series, c.period.start, c.period.end, c.tz, week.subscribers_start
            ),
        )

    def _days(self, lang: str) -> chart.Strip:
        c = self.composer
        return self._strip(
            ("days", lang),
            lambda: chart.render_days(c.period.start, c.period.end, c.tz, lang),
        )
