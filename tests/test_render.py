"""What a subscriber sees for each event: escaped, linked, within Telegram's limits."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.i18n import Translator
from bot.render import (
    ChannelRef,
    EventView,
    channel_link,
    label_name,
    post_url,
    render_event,
)
from bot.textsplit import utf16_len, visible_text
from storage import payloads
from storage.content import EDITS
from tests.renderkit import PAYLOADS, any_text, assert_telegram_html, check_messages

NOW = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- reading it back


def quoted(messages: list[str]) -> str:
    """The plain text inside all blockquotes, in order."""
    parts = []
    for message in messages:
        parts.extend(re.findall(r"<blockquote>(.*?)</blockquote>", message, flags=re.S))
    return "".join(visible_text(p) for p in parts)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def t() -> Translator:
    return Translator.load()


PUT_DOMOI = ChannelRef(tg_id=-1001987654321, title="Путь домой", username="put_domoy")
NO_USERNAME = ChannelRef(tg_id=1987654321, title="Закрытый канал", username=None)
HOSTILE = ChannelRef(
    tg_id=42, title='<b>Evil & "Co"</a><script>alert(1)</script> &amp;', username="evil_co"
)

POST_KINDS = ("post.new", "post.edited", "post.deleted")


def ev(kind: str, payload: dict, channel: ChannelRef = PUT_DOMOI) -> EventView:
    return EventView.of(kind, payload, channel, NOW)


# --------------------------------------------------------------------------- every kind


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize(
    "channel", [PUT_DOMOI, NO_USERNAME, HOSTILE], ids=["user", "nouser", "bad"]
)
def test_every_kind_names_channel_and_links_posts(
    t: Translator, lang: str, kind: str, channel: ChannelRef
) -> None:
    messages = render_event(t, lang, ev(kind, PAYLOADS[kind], channel))
    check_messages(messages)
    for message in messages:
        assert channel.title in visible_text(message)
    if channel.username:
        assert f'href="https://t.me/{channel.username}"' in messages[0]
    if kind in POST_KINDS:
        assert f'href="{post_url(channel, 1234)}"' in messages[0]


@pytest.mark.parametrize("kind", sorted(set(PAYLOADS) - {"broadcast"}))
def test_languages_differ(t: Translator, kind: str) -> None:
    en = render_event(t, "en", ev(kind, PAYLOADS[kind]))
    ru = render_event(t, "ru", ev(kind, PAYLOADS[kind]))
    assert en != ru


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_empty_payload_still_renders(t: Translator, kind: str) -> None:
    check_messages(render_event(t, "en", ev(kind, {})))


def test_unknown_language_uses_english(t: Translator) -> None:
    e = ev("channel.available", {})
    assert render_event(t, "de", e) == render_event(t, "en", e)


def test_unknown_kind_renders(t: Translator) -> None:
    messages = render_event(t, "en", ev("channel.<weird>", {}))
    check_messages(messages)
    assert "channel.<weird>" in visible_text(messages[0])


# --------------------------------------------------------------------------- escaping


def test_hostile_title_is_literal_text(t: Translator) -> None:
    for kind, payload in PAYLOADS.items():
        for message in render_event(t, "en", ev(kind, payload, HOSTILE)):
            assert "<script>" not in message
            assert "&lt;script&gt;" in message
            assert HOSTILE.title in visible_text(message)
            assert_telegram_html(message)


@pytest.mark.parametrize("kind", POST_KINDS)
def test_hostile_post_text_is_escaped(t: Translator, kind: str) -> None:
    evil = '</blockquote><a href="https://evil.example">x</a> & <script>1</script> &amp;'
    payload = dict(PAYLOADS[kind], text=evil, before="plain", after=evil)
    messages = render_event(t, "en", ev(kind, payload))
    check_messages(messages)
    assert "evil.example" not in "".join(re.findall(r'href="([^"]*)"', "".join(messages)))
    assert "<script>" not in "".join(messages)
    shown = visible_text("".join(messages))
    if kind == "post.edited":
        assert '<a href="https://evil.example">x</a>' in shown
    else:
        assert evil in shown


def test_channel_link() -> None:
    assert channel_link(PUT_DOMOI) == '<a href="https://t.me/put_domoy">Путь домой</a>'
    assert channel_link(NO_USERNAME) == "<b>Закрытый канал</b>"
    link = channel_link(HOSTILE)
    assert_telegram_html(link)
    assert visible_text(link) == HOSTILE.title
    bad_user = ChannelRef(tg_id=1, title="T", username='x" onclick="y')
    assert channel_link(bad_user) == "<b>T</b>"


def test_post_url() -> None:
    assert post_url(PUT_DOMOI, 77) == "https://t.me/put_domoy/77"
    assert post_url(NO_USERNAME, 77) == "https://t.me/c/1987654321/77"
    bot_api_id = ChannelRef(tg_id=-1001987654321, title="x", username=None)
    assert post_url(bot_api_id, 5) == "https://t.me/c/1987654321/5"


# --------------------------------------------------------------------------- posts


def test_new_post_excerpt_and_media(t: Translator) -> None:
    text = "Слово " * 500
    payload = dict(PAYLOADS["post.new"], text=text, media_kind="video")
    [message] = render_event(t, "en", ev("post.new", payload))
    excerpt = quoted([message])
    assert excerpt.endswith("…")
    assert 500 <= utf16_len(excerpt) <= 601
    assert text.startswith(excerpt[:-1])
    assert "🎬 Video" in message
    [ru] = render_event(t, "ru", ev("post.new", payload))
    assert "🎬 Видео" in ru


def test_new_post_album(t: Translator) -> None:
    payload = dict(PAYLOADS["post.new"], text="", media_kind="album", grouped_id=9, album_size=5)
    [en] = render_event(t, "en", ev("post.new", payload))
    [ru] = render_event(t, "ru", ev("post.new", payload))
    assert "Album of 5 items" in en
    assert "Альбом: 5 файлов" in ru
    assert "<blockquote>" not in en


def test_edit_marks_changed_words(t: Translator) -> None:
    payload = dict(
        PAYLOADS["post.edited"], before="The quick brown fox", after="The slow brown fox"
    )
    [message] = render_event(t, "en", ev("post.edited", payload))
    assert "<s>quick</s>" in message
    assert "<b>slow</b>" in message
    assert "brown fox" in message
    assert "Edited Jan 5, 2024" in message


def test_edit_same_text(t: Translator) -> None:
    payload = dict(PAYLOADS["post.edited"], before="Same", after="Same")
    [message] = render_event(t, "en", ev("post.edited", payload))
    assert "did not change" in message


def test_edit_of_huge_texts_fits(t: Translator) -> None:
    before = "старый текст " * 700
    after = "новый вариант " * 700
    messages = render_event(
        t, "ru", ev("post.edited", dict(PAYLOADS["post.edited"], before=before, after=after))
    )
    check_messages(messages)
    assert len(messages) == 1


def test_deleted_post_mass_note(t: Translator) -> None:
    [en] = render_event(t, "en", ev("post.deleted", PAYLOADS["post.deleted"]))
    [ru] = render_event(t, "ru", ev("post.deleted", PAYLOADS["post.deleted"]))
    assert "one of 17 posts deleted at once" in en
    assert "один из 17 постов" in ru
    [ru21] = render_event(t, "ru", ev("post.deleted", dict(PAYLOADS["post.deleted"], count=21)))
    assert "один из 21 поста" in ru21
    single = dict(PAYLOADS["post.deleted"], mass=False, count=1)
    [alone] = render_event(t, "en", ev("post.deleted", single))
    assert "deleted at once" not in alone
    assert "Этот пост удалили." in alone
    assert "Published Jan 4, 2024" in alone


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_long_deleted_post_is_split_and_complete(t: Translator, lang: str) -> None:
    sentence = "Верните наших мужей домой & <сейчас>. "
    text = (sentence * 600)[:20_000]
    messages = render_event(t, lang, ev("post.deleted", dict(PAYLOADS["post.deleted"], text=text)))
    check_messages(messages)
    assert len(messages) >= 5
    assert quoted(messages) == text
    for i, message in enumerate(messages):
        assert PUT_DOMOI.title in visible_text(message)
        if i:
            assert f"({i + 1}/{len(messages)})" in visible_text(message)
    assert post_url(PUT_DOMOI, 1234) in messages[0]


def test_emoji_heavy_deleted_post(t: Translator) -> None:
    text = "😀" * 9000 + "👨‍👩‍👧‍👦🇺🇦" * 300
    messages = render_event(t, "en", ev("post.deleted", dict(PAYLOADS["post.deleted"], text=text)))
    check_messages(messages)
    assert quoted(messages) == text
    assert sum(utf16_len(visible_text(m)) for m in messages) > 2 * 9000


# --------------------------------------------------------------------------- channel events


def test_fake_label_wording(t: Translator) -> None:
    [en] = render_event(t, "en", ev("channel.label_added", {"label": "fake", "text": None}))
    [ru] = render_event(t, "ru", ev("channel.label_added", {"label": "fake", "text": None}))
    assert visible_text(en) == "⚠️ Telegram marked Путь домой as FAKE"
    assert visible_text(ru) == "⚠️ Telegram пометил канал Путь домой как FAKE (фейк)"
    [gone] = render_event(t, "en", ev("channel.label_removed", {"label": "fake", "text": None}))
    assert "Telegram removed the FAKE label" in gone


def test_restriction_wording(t: Translator) -> None:
    payload = {"label": "restricted:android:porn", "text": "Unavailable due to <local> laws"}
    [en] = render_event(t, "en", ev("channel.label_added", payload))
    [ru] = render_event(t, "ru", ev("channel.label_added", payload))
    assert "Telegram restricted Путь домой on Android (pornography)" in visible_text(en)
    assert "Unavailable due to <local> laws" in visible_text(en)
    assert "на Android (порнография)" in visible_text(ru)
    payload = {"label": "restricted:all:terms", "text": None}
    [lifted] = render_event(t, "en", ev("channel.label_removed", payload))
    assert "lifted" in lifted and "all platforms" in lifted
    odd = {"label": "restricted:<tv>:<x&y>", "text": None}
    [message] = render_event(t, "en", ev("channel.label_added", odd))
    assert_telegram_html(message)
    assert "on <tv> (<x&y>)" in visible_text(message)


def test_label_name(t: Translator) -> None:
    assert label_name(t, "en", "fake") == "FAKE"
    assert label_name(t, "ru", "fake") == "FAKE (фейк)"
    assert label_name(t, "en", "scam") == "SCAM"
    assert label_name(t, "en", "verified") == "verified"
    assert label_name(t, "en", "restricted:ios:copyright") == "restriction on iOS (copyright)"
    assert label_name(t, "ru", "restricted:all:terms") == (
        "ограничение на всех платформах (нарушение правил Telegram)"
    )
    assert label_name(t, "en", "restricted:quantum:weird") == "restriction on quantum (weird)"
    assert label_name(t, "en", "premium") == "label “premium”"
    assert label_name(t, "en", "restricted") == "restriction on all platforms (reason not given)"


def test_verified_and_other_labels(t: Translator) -> None:
    [verified] = render_event(t, "en", ev("channel.label_added", {"label": "verified"}))
    assert "verified" in verified
    [other] = render_event(t, "en", ev("channel.label_added", {"label": "<new>"}))
    assert_telegram_html(other)
    assert "“<new>”" in visible_text(other)


def test_subscribers_jump_numbers(t: Translator) -> None:
    e = ev("channel.subscribers_jump", PAYLOADS["channel.subscribers_jump"])
    [en] = render_event(t, "en", e)
    [ru] = render_event(t, "ru", e)
    assert "50,000 → 62,000 (+24%) in 6 h" in en
    assert "50\xa0000 → 62\xa0000 (+24 %) за 6 ч" in ru
    drop = {"before": 62000, "after": 31000, "change_pct": -50.0, "window_hours": 1.5}
    [down] = render_event(t, "en", ev("channel.subscribers_jump", drop))
    assert "📉" in down and "(−50%) in 1.5 h" in down


@pytest.mark.parametrize(
    "payload",
    [
        {"before": 0, "after": 0, "change_pct": 1e27, "window_hours": 1e300},
        {"before": 10**40, "after": -5, "change_pct": float("nan"), "window_hours": float("inf")},
        {"before": "12", "after": None, "change_pct": "x", "window_hours": None},
    ],
)
def test_subscribers_jump_nonsense_numbers(t: Translator, payload: dict) -> None:
    check_messages(render_event(t, "ru", ev("channel.subscribers_jump", payload)))


def test_huge_counts(t: Translator) -> None:
    deleted = dict(PAYLOADS["post.deleted"], count=10**40, message_id=10**40)
    check_messages(render_event(t, "en", ev("post.deleted", deleted)))
    album = dict(PAYLOADS["post.new"], album_size=10**40)
    check_messages(render_event(t, "en", ev("post.new", album)))


def test_username_changes(t: Translator) -> None:
    def show(before: str | None, after: str | None) -> str:
        payload = {"before": before, "after": after}
        [message] = render_event(t, "en", ev("channel.username_changed", payload))
        assert_telegram_html(message)
        return visible_text(message)

    assert "@put_domoy → @put_domoy2" in show("put_domoy", "put_domoy2")
    assert "got a public username: @new" in show(None, "new")
    assert "dropped its public username @old" in show("old", None)


def test_renamed_and_about(t: Translator) -> None:
    [renamed] = render_event(t, "ru", ev("channel.renamed", {"before": "<A>", "after": "B&C"}))
    assert "«<A>» → «B&C»" in visible_text(renamed)
    [about] = render_event(t, "en", ev("channel.about_changed", PAYLOADS["channel.about_changed"]))
    [diff] = re.findall(r"<blockquote>(.*)</blockquote>", about)
    shown_after = visible_text(re.sub(r"<s>.*?</s>", "", diff))
    shown_before = visible_text(re.sub(r"<b>.*?</b>", "", diff))
    assert shown_after == PAYLOADS["channel.about_changed"]["after"]
    assert shown_before == PAYLOADS["channel.about_changed"]["before"]
    assert "<b>" in diff


@pytest.mark.parametrize(
    ("reason", "en_text"),
    [
        ("private", "became private"),
        ("banned", "Telegram blocked"),
        ("deleted", "was deleted"),
        ("private_or_deleted", "became private or was deleted"),
        ("username_released", "no longer leads to it"),
        ("unknown", "cannot be reached"),
        ("<odd>", "cannot be reached"),
    ],
)
def test_unavailable_reasons(t: Translator, reason: str, en_text: str) -> None:
    [message] = render_event(t, "en", ev("channel.unavailable", {"reason": reason, "detail": None}))
    assert_telegram_html(message)
    assert en_text in message
    [ru] = render_event(t, "ru", ev("channel.unavailable", {"reason": reason, "detail": "<x>"}))
    assert "<x>" in visible_text(ru)


def test_unavailable_names_the_released_username_without_linking_it(t: Translator) -> None:
    stored = {"reason": "deleted", "answer": "CHANNEL_PRIVATE", "username": "putdomoi"}
    gone = ChannelRef(tg_id=PUT_DOMOI.tg_id, title=PUT_DOMOI.title, username=None)
    [message] = render_event(t, "en", ev("channel.unavailable", stored, gone))
    assert_telegram_html(message)
    assert "@putdomoi is free now" in visible_text(message)
    assert "t.me/putdomoi" not in message
    [old_row] = render_event(t, "ru", ev("channel.unavailable", {"reason": "deleted"}, gone))
    assert "свободно" not in old_row


def test_broadcast_passes_html_and_splits(t: Translator) -> None:
    [message] = render_event(t, "en", ev("broadcast", PAYLOADS["broadcast"]))
    assert "<b>Спасибо</b> &amp; до встречи." in message
    long_text = "<b>Важно:</b> " + "очень длинное объявление. " * 400
    messages = render_event(t, "ru", ev("broadcast", {"text": long_text}))
    check_messages(messages)
    assert len(messages) >= 3


# --------------------------------------------------------------------------- properties

long_text = st.builds(lambda s, n: s * n, any_text, st.integers(1, 80))
usernames = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_]{5,32}", fullmatch=True), any_text)
channels = st.builds(
    ChannelRef, tg_id=st.integers(-(10**13), 10**13), title=any_text, username=usernames
)


def payloads_for(kind: str) -> st.SearchStrategy[dict]:
    ints = st.integers(-(10**9), 10**9)
    opt_text = st.one_of(st.none(), any_text)
    labels = st.one_of(
        st.sampled_from(["fake", "scam", "verified", "restricted:android:porn", "restricted"]),
        any_text,
        st.builds(lambda a, b: f"restricted:{a}:{b}", any_text, any_text),
    )
    strategies = {
        "post.new": st.fixed_dictionaries(
            {
                "message_id": ints,
                "text": long_text,
                "media_kind": opt_text,
                "grouped_id": st.one_of(st.none(), ints),
                "album_size": st.one_of(st.none(), st.integers(0, 10), st.integers()),
                "media": st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {
                            "kind": any_text,
                            "size": st.one_of(st.none(), st.integers()),
                            "duration": st.one_of(st.none(), st.floats()),
                        }
                    ),
                ),
                "forwarded_from": opt_text,
            }
        ),
        "post.edited": st.fixed_dictionaries(
            {
                "message_id": ints,
                "before": long_text,
                "after": long_text,
                "edit_date": st.one_of(st.none(), any_text),
                "changes": st.lists(st.one_of(st.sampled_from(EDITS), any_text), max_size=10),
                "links_before": st.lists(long_text, max_size=6),
                "links_after": st.lists(long_text, max_size=6),
                "media_before": st.one_of(st.none(), st.fixed_dictionaries({"kind": any_text})),
            }
        ),
        "post.deleted": st.fixed_dictionaries(
            {
                "message_id": ints,
                "text": long_text,
                "date": st.one_of(st.none(), any_text, st.just("2024-02-01T00:00:00")),
                "mass": st.booleans(),
                "count": st.one_of(ints, st.integers()),
            }
        ),
        "channel.label_added": st.fixed_dictionaries({"label": labels, "text": opt_text}),
        "channel.label_removed": st.fixed_dictionaries({"label": labels, "text": long_text}),
        "channel.renamed": st.fixed_dictionaries({"before": long_text, "after": long_text}),
        "channel.username_changed": st.fixed_dictionaries({"before": opt_text, "after": opt_text}),
        "channel.about_changed": st.fixed_dictionaries({"before": long_text, "after": long_text}),
        "channel.unavailable": st.fixed_dictionaries({"reason": any_text, "detail": long_text}),
        "channel.available": st.just({}),
        "channel.photo_changed": st.fixed_dictionaries(
            {"before": st.one_of(st.none(), ints), "after": st.one_of(st.none(), ints)}
        ),
        "channel.preview_withheld": st.fixed_dictionaries({"text": opt_text}),
        "channel.preview_restored": st.just({}),
        "channel.subscribers_jump": st.fixed_dictionaries(
            {
                "before": st.one_of(st.integers(0, 10**9), st.integers()),
                "after": st.one_of(st.integers(0, 10**9), st.integers()),
                "change_pct": st.floats(),
                "window_hours": st.floats(),
            }
        ),
        # A broadcast is moderator HTML; arbitrary text is escaped first, as the
        # broadcast command does before storing it.
        "broadcast": st.fixed_dictionaries({"text": long_text.map(html.escape)}),
    }
    return strategies[kind]


events = st.sampled_from(sorted(PAYLOADS)).flatmap(
    lambda kind: st.builds(
        EventView.of,
        kind=st.just(kind),
        stored=payloads_for(kind),
        channel=channels,
        occurred_at=st.just(NOW),
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=events, lang=st.sampled_from(["en", "ru"]))
def test_any_event_renders_within_limits(t: Translator, e: EventView, lang: str) -> None:
    messages = render_event(t, lang, e)
    check_messages(messages)
    title = e.channel.title
    if title.strip() and utf16_len(title) <= 128 and e.kind != "broadcast":
        for message in messages:
            assert title in visible_text(message)
    if isinstance(e.payload, payloads.PostDeleted) and e.payload.text.strip():
        assert quoted(messages) == e.payload.text


# --------------------------------------------------------------------------- what a post showed


def test_new_post_names_its_media_with_duration_and_size(t: Translator) -> None:
    payload = {
        "message_id": 7,
        "text": "Обращение",
        "media_kind": "video",
        "media": {"kind": "video", "duration": 552.0, "size": 48 * 1024 * 1024},
        "forwarded_from": "Совет матерей и жён",
    }
    [en] = render_event(t, "en", ev("post.new", payload))
    assert "🎬 Video 9:12, 48 MB" in visible_text(en)
    assert "↪️ Forwarded from Совет матерей и жён" in visible_text(en)
    [ru] = render_event(t, "ru", ev("post.new", payload))
    assert "🎬 Видео 9:12, 48 МБ" in visible_text(ru)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("round", "📹 Video message"), ("gif", "🎞 GIF"), ("location", "📍 Location")],
)
def test_every_collector_media_kind_has_a_name(t: Translator, kind: str, expected: str) -> None:
    [text] = render_event(t, "en", ev("post.new", {"message_id": 1, "media_kind": kind}))
    assert expected in visible_text(text)
    assert "Attachment" not in visible_text(text)


def test_edit_says_what_changed(t: Translator) -> None:
    payload = {
        "message_id": 9,
        "before": "Читайте",
        "after": "Читайте",
        "changes": ["links", "media_replaced"],
        "links_before": ["https://old.example/a"],
        "links_after": ["https://new.example/b"],
        "media_before": {"kind": "photo"},
        "media_after": {"kind": "photo"},
    }
    [text] = render_event(t, "en", ev("post.edited", payload))
    shown = visible_text(text)
    assert "Changed: link target, 📷 Photo replaced" in shown
    assert "🔗 https://old.example/a → https://new.example/b" in shown
    assert t.get("en", "ev-post-edited-same-text") not in shown


def test_formatting_only_and_removed_media(t: Translator) -> None:
    [fmt] = render_event(
        t, "en", ev("post.edited", {"before": "x", "after": "x", "changes": ["formatting"]})
    )
    assert "Changed: formatting only" in visible_text(fmt)
    removed = {"before": "x", "after": "x", "changes": ["media_removed"]}
    removed["media_before"] = {"kind": "video"}  # type: ignore[assignment]
    [gone] = render_event(t, "ru", ev("post.edited", removed))
    assert "Изменено: удалено медиа (🎬 Видео)" in visible_text(gone)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [(None, 5, "set a channel photo"), (5, None, "removed its"), (5, 6, "changed its channel")],
)
def test_photo_change_wording(
    t: Translator, before: int | None, after: int | None, expected: str
) -> None:
    [text] = render_event(t, "en", ev("channel.photo_changed", {"before": before, "after": after}))
    assert expected in visible_text(text) and "Путь домой" in visible_text(text)


def test_preview_withheld_shows_telegrams_notice(t: Translator) -> None:
    payload = {"text": "This channel can’t be displayed because <it> violated local laws."}
    [en] = render_event(t, "en", ev("channel.preview_withheld", payload))
    assert "web preview" in en and "&lt;it&gt; violated local laws" in en
    [ru] = render_event(t, "ru", ev("channel.preview_restored", {}))
    assert "веб-просмотр" in ru and "снова открыт" in ru
