"""No title, username, text or restriction reason can sink a digest or an alert.

A channel called "Канал 1²" used to break the digest of every follower of it: the
natural sort key read the superscript as a number.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import render
from bot.digest import Period
from bot.digest.builder import (
    ChannelWeek,
    Composer,
    DeletedRow,
    EditRow,
    EventRow,
    TopPost,
)
from bot.i18n import Translator
from bot.render import ChannelRef, EventView, render_event
from bot.textsplit import visible_text
from storage import kinds
from tests.renderkit import PAYLOADS, any_text, check_messages

T = Translator.load()
START = datetime(2026, 11, 23, tzinfo=UTC)
PERIOD = Period(key="2026-W48", start=START, end=START + timedelta(days=7))
AT = START + timedelta(days=2)


def week(cid: int, title: str, username: str | None = None, text: str = "пост") -> ChannelWeek:
    return ChannelWeek(
        id=cid,
        ref=ChannelRef(tg_id=-1000000000000 - cid, title=title, username=username),
        posts=3,
        deleted=1,
        edits=1,
        notable_edits=1,
        subscribers_start=100,
        subscribers_end=120,
        top_views=[TopPost(cid, 5, 900, text, None)],
        top_forwards=[TopPost(cid, 5, 12, text, None)],
        events=[
            EventRow(
                cid * 10,
                cid,
                kinds.LABEL_ADDED,
                {"label": f"restricted:ios:{text}", "text": text},
                AT,
            ),
            EventRow(cid * 10 + 1, cid, kinds.RENAMED, {"before": text, "after": title}, AT),
        ],
        deleted_rows=[DeletedRow(cid, 4, AT, AT, text)],
        edit_rows=[EditRow(cid, 5, 2, text, text + " !", AT, 5)],
    )


def test_superscript_digit_title_does_not_sink_the_digest() -> None:
    weeks = {1: week(1, "Канал 1²"), 2: week(2, "Путь домой"), 3: week(3, "Канал ٣ 10")}
    composed = Composer(T, UTC, PERIOD, weeks).compose("ru", [1, 2, 3])
    text = "\n".join(visible_text(m) for m in composed.messages)
    for title in ("Канал 1²", "Путь домой", "Канал ٣ 10"):
        assert title in text
    check_messages(composed.messages)


def test_one_failing_item_is_left_out_not_the_digest() -> None:
    """A fault in one item's rendering (simulated by a composer whose edit renderer
    breaks for one channel) costs that item only."""

    class Faulty(Composer):
        def _edit_html(self, row: EditRow, week: ChannelWeek, lang: str) -> str:
            if week.id == 1:
                raise RuntimeError("simulated fault in one item")
            return super()._edit_html(row, week, lang)

    weeks = {1: week(1, "Первый"), 2: week(2, "Второй")}
    composed = Faulty(T, UTC, PERIOD, weeks).compose("en", [1, 2])
    text = "\n".join(visible_text(m) for m in composed.messages)
    assert "Первый" in text and "Второй" in text
    assert composed.stats["edits_shown"] == [[2, 5]]


def test_a_failing_alert_renderer_still_tells_the_subscriber(monkeypatch: object) -> None:
    """The renderer of one kind raising gives a plain alert naming the channel."""

    def broken(ctx: object, payload: object) -> list[str]:
        raise ValueError("simulated fault")

    monkeypatch.setitem(render._RENDERERS, kinds.RENAMED, broken)  # type: ignore[attr-defined]
    ev = EventView.of(
        kinds.RENAMED, {"before": "a", "after": "b"}, ChannelRef(1, "Канал", None), AT
    )
    messages = render_event(T, "en", ev)
    check_messages(messages)
    assert "Канал" in visible_text(messages[0])


titles = st.one_of(
    any_text,
    st.builds(
        lambda a, d, b: f"{a}{d}{b}",
        any_text,
        st.sampled_from(["1²", "٣", "10", "²³", "1" * 25, "𝟙𝟚", "①", "Ⅻ", "0x1"]),
        any_text,
    ),
)
usernames = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_]{5,32}", fullmatch=True), any_text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.tuples(titles, usernames, any_text), min_size=1, max_size=4),
    lang=st.sampled_from(["en", "ru"]),
)
def test_any_unicode_goes_through_the_digest_builder(
    names: list[tuple[str, str | None, str]], lang: str
) -> None:
    weeks = {i: week(i, title, user, text) for i, (title, user, text) in enumerate(names, 1)}
    composed = Composer(T, UTC, PERIOD, weeks).compose(lang, list(weeks))
    check_messages(composed.messages)
    assert composed.stats["channels"].keys() == {str(i) for i in weeks}
    assert len(composed.stats["events"]) == 2 * len(weeks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=titles,
    username=usernames,
    text=any_text,
    kind=st.sampled_from(sorted(PAYLOADS)),
    lang=st.sampled_from(["en", "ru"]),
)
def test_any_unicode_goes_through_every_alert_renderer(
    title: str, username: str | None, text: str, kind: str, lang: str
) -> None:
    payload = {k: (text if isinstance(v, str) else v) for k, v in PAYLOADS[kind].items()} | {
        "label": f"restricted:{text}:{text}"
    }
    if kind == "broadcast":  # moderator HTML, escaped by /broadcast before it is stored
        payload["text"] = html.escape(text)
    ev = EventView.of(kind, payload, ChannelRef(-1001, title, username), AT)
    check_messages(render_event(T, lang, ev))
