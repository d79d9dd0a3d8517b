"""The five real t.me/s pages parsed: every value below was read off the saved files by hand.

Post ids from data-post, dates from <time datetime>, views from the shown counters
("2.19M" is 2,190,000 as shown), media from the media wrappers, "edited" from the meta
line, the header from the channel info block and the channel id from data-view.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from collectors.webpreview.parse import (
    channel_id_of,
    counter_range,
    parse_embed,
    parse_page,
    utf16_len,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "tme"
if not FIXTURES.is_dir():
    FIXTURES = Path("/work/shared/fixtures/tme")

# (post id, date UTC, views as shown, media kind, edited mark); service messages left out.
PAGES: dict[str, list[tuple[int, str, int | None, str | None, bool]]] = {
    "bbbreaking": [
        (229325, "2026-05-05T09:15:01", 279000, None, False),
        (229326, "2026-05-05T09:27:30", 317000, None, False),
        (229327, "2026-05-05T09:46:15", 289000, None, False),
        (229328, "2026-05-05T10:12:30", 252000, None, False),
        (229329, "2026-05-05T10:35:01", 255000, None, False),
        (229330, "2026-05-05T10:45:31", 249000, None, False),
        (229331, "2026-05-05T11:03:55", 243000, None, False),
        (229332, "2026-05-05T11:25:01", 253000, None, False),
        (229333, "2026-05-05T12:00:20", 236000, None, False),
        (229334, "2026-05-05T12:15:54", 229000, None, False),
        (229335, "2026-05-05T12:25:01", 229000, None, False),
        (229336, "2026-05-05T13:07:50", 205000, None, False),
        (229337, "2026-05-05T13:37:56", 199000, None, False),
        (229338, "2026-05-05T13:50:45", 205000, None, False),
        (229339, "2026-05-05T14:08:03", 189000, None, False),
        (229340, "2026-05-05T14:25:01", 177000, None, False),
        (229341, "2026-05-05T14:30:01", 177000, None, False),
        (229342, "2026-05-05T15:30:53", 123000, None, False),
        (229343, "2026-05-05T16:00:01", 92300, None, False),
        (229344, "2026-05-05T16:36:45", 32000, None, False),
    ],
    "disgustingmen": [
        (15137, "2026-04-15T17:52:29", 11400, "photo", False),
        (15138, "2026-04-16T06:15:27", 10500, "video", False),
        (15139, "2026-04-16T16:53:41", 12000, "photo", False),
        (15140, "2026-04-17T06:48:49", 12900, "photo", False),
        (15141, "2026-04-18T15:55:30", 11700, "photo", False),
        (15143, "2026-04-19T13:07:23", 10700, "photo", False),
        (15144, "2026-04-20T07:47:49", 10300, "photo", False),
        (15145, "2026-04-21T12:08:58", 9760, "photo", False),
        (15146, "2026-04-21T18:46:32", 9360, None, False),
        (15147, "2026-04-22T16:03:50", 10100, "photo", False),
        (15148, "2026-04-23T18:29:47", 11700, "photo", False),
        (15149, "2026-04-24T07:12:52", 13000, "photo", False),
        (15150, "2026-04-27T11:47:19", 9350, "photo", False),
        (15151, "2026-04-28T18:47:35", 8900, "photo", True),
        (15152, "2026-04-30T14:12:42", 8590, None, False),
        (15153, "2026-05-01T15:04:55", 7860, "album", False),
        (15155, "2026-05-04T11:23:48", 5040, "photo", False),
        (15156, "2026-05-05T16:22:58", 1050, "photo", False),
    ],
    "durov": [
        (481, "2026-04-08T22:36:42", 2190000, "photo", True),
        (482, "2026-04-09T14:09:27", 2720000, None, False),
        (483, "2026-04-09T21:27:05", 2400000, "photo", False),
        (485, "2026-04-10T22:24:40", 2250000, None, False),
        (486, "2026-04-11T12:44:51", 3080000, None, False),
        (487, "2026-04-12T15:25:09", 2270000, None, False),
        (488, "2026-04-13T21:25:34", 2030000, None, False),
        (489, "2026-04-15T01:20:29", 1750000, "video", False),
        (490, "2026-04-15T20:18:53", 1640000, "video", False),
        (491, "2026-04-17T02:31:54", 1850000, None, False),
        (493, "2026-04-18T00:58:41", 1620000, "gif", False),
        (494, "2026-04-18T23:57:36", 1630000, "gif", False),
        (495, "2026-04-20T00:01:54", 1930000, None, True),
        (496, "2026-04-20T16:25:25", 1860000, None, True),
        (497, "2026-04-20T22:55:10", 1950000, None, True),
        (498, "2026-04-22T17:06:37", 1990000, "photo", False),
        (499, "2026-04-23T17:12:59", 2000000, None, True),
        (500, "2026-04-24T19:32:04", 1890000, None, False),
        (501, "2026-05-04T14:54:43", 715000, None, False),
        (502, "2026-05-05T15:46:44", 247000, None, False),
    ],
    "meduzalive": [
        (141878, "2026-05-05T12:54:01", 104000, None, False),
        (141879, "2026-05-05T13:24:37", 100000, "audio", False),
        (141880, "2026-05-05T13:35:10", 96900, None, False),
        (141881, "2026-05-05T13:55:36", 91700, None, False),
        (141882, "2026-05-05T14:06:39", 87400, None, False),
        (141883, "2026-05-05T14:33:47", 78000, None, False),
        (141884, "2026-05-05T14:45:18", 70700, "photo", False),
        (141885, "2026-05-05T14:58:01", 66500, None, False),
        (141886, "2026-05-05T15:05:17", 66600, None, True),
        (141887, "2026-05-05T15:13:51", 67700, None, False),
        (141888, "2026-05-05T15:16:01", 67600, "audio", False),
        (141889, "2026-05-05T15:31:13", 60200, None, False),
        (141890, "2026-05-05T15:39:01", 54900, "album", False),
        (141893, "2026-05-05T15:56:57", 43300, None, False),
        (141894, "2026-05-05T16:04:43", 42200, None, False),
        (141895, "2026-05-05T16:21:28", 31700, None, False),
        (141896, "2026-05-05T16:30:01", 23200, "album", False),
    ],
    "telegram": [
        (419, "2025-12-15T08:21:52", 2380000, "photo", False),
        (420, "2025-12-15T08:22:11", 2810000, None, False),
        (421, "2026-01-07T18:17:14", 1670000, "video", False),
        (422, "2026-01-07T18:17:34", 2150000, "video", False),
        (423, "2026-01-07T18:17:53", 2420000, "video", False),
        (424, "2026-01-07T18:18:01", 3110000, None, False),
        (425, "2026-02-10T17:43:45", 1510000, "video", False),
        (426, "2026-02-10T17:44:05", 1590000, "video", False),
        (427, "2026-02-10T17:44:22", 2020000, "video", True),
        (428, "2026-02-10T17:44:32", 2430000, None, False),
        (429, "2026-03-02T17:33:34", 1180000, "video", True),
        (430, "2026-03-02T17:33:52", 1250000, "video", True),
        (431, "2026-03-02T17:34:08", 1210000, "video", True),
        (432, "2026-03-02T17:34:22", 1650000, "video", True),
        (433, "2026-03-02T17:34:24", 2410000, None, True),
        (435, "2026-04-09T07:01:44", 838000, "video", False),
        (436, "2026-04-09T07:02:04", 774000, "video", False),
        (437, "2026-04-09T07:02:22", 768000, "video", False),
        (438, "2026-04-09T07:02:39", 1120000, "video", False),
        (439, "2026-04-09T07:02:48", 1330000, None, True),
    ],
}

# title, username, verified, subscribers as shown, channel id (data-view), paging data-before
HEADERS = {
    "bbbreaking": ("Раньше всех. Ну почти.", "bbbreaking", False, "1.96M", 1394050290, 229325),
    "disgustingmen": ("Disgusting Men", "disgustingmen", False, "21.7K", 1002209029, 15137),
    "durov": ("Pavel Durov", "durov", True, "10.1M", 1006503122, 481),
    "meduzalive": ("Медуза — LIVE", "meduzalive", True, "1.1M", 1036240821, 141878),
    "telegram": ("Telegram News", "telegram", True, "10.7M", 1005640892, 419),
}


def _page(name: str):
    return parse_page((FIXTURES / f"{name}.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(PAGES))
def test_real_page_posts(name: str) -> None:
    page = _page(name)
    assert page.kind == "posts"
    got = [
        (p.message_id, p.date.strftime("%Y-%m-%dT%H:%M:%S"), p.views, p.media_kind, p.edited)
        for p in page.posts
    ]
    assert got == PAGES[name]
    assert all(
        p.date.utcoffset() is not None and p.date.utcoffset().total_seconds() == 0
        for p in page.posts
    )
    # What the preview does not show stays unknown, never "zero" or "no".
    assert all(
        p.edit_date is None and p.forwards is None and p.reactions is None for p in page.posts
    )


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_real_page_header(name: str) -> None:
    title, username, verified, shown, channel_id, before = HEADERS[name]
    page = _page(name)
    h = page.header
    assert (h.title, h.username, h.verified) == (title, username, verified)
    lo, hi = counter_range(shown) or (0, 0)
    assert (h.participants, h.participants_max) == (lo, hi)
    assert page.channel_id == channel_id
    assert page.before == before
    seen = h.seen(channel_id, datetime(2026, 5, 5))
    assert seen.fake is None and seen.scam is None and seen.restricted is None
    assert seen.source == "web" and seen.photo_id is not None


def test_counter_ranges_cover_every_count_shown_that_way() -> None:
    assert counter_range("93") == (93, 93)
    lo, hi = counter_range("38.2K") or (0, 0)
    assert lo <= 38_150 and hi >= 38_299 and hi < 38_300
    lo, hi = counter_range("1.96M") or (0, 0)
    assert lo == 1_955_000 and hi == 1_969_999
    assert counter_range("lots") is None


def test_data_view_is_the_negated_channel_id() -> None:
    # durov.html's first data-view, decoded by hand: {"c":-1006503122,"p":481,...}
    assert (
        channel_id_of(
            "eyJjIjotMTAwNjUwMzEyMiwicCI6NDgxLCJ0IjoxNzc3OTk5NTIwLCJoIjoiNzJjMjc1MjcwYjU4MTEyZTBmIn0"
        )
        == 1006503122
    )
    assert channel_id_of("not base64!") is None
    assert channel_id_of("eyJjIjo1fQ") is None  # {"c":5}: not a negated id


def test_hidden_text_links_and_utf16_offsets() -> None:
    posts = {p.message_id: p for p in _page("durov").posts}
    p481 = posts[481]
    # Starts with the custom emoji 🇪🇺 (two code points, four UTF-16 units).
    first = p481.entities[0]
    assert (first.kind, first.offset, first.length, first.custom_emoji_id) == (
        "customemoji",
        0,
        4,
        5228784522924930237,
    )
    assert p481.text.startswith("🇪🇺 The EU is trying")
    # 485: the words "got access" hide the 9to5mac article's URL.
    hidden = [e for e in posts[485].entities if e.kind == "texturl"]
    assert [e.url for e in hidden] == [
        "https://9to5mac.com/2026/04/09/fbi-used-iphone-notification-data-to-retrieve-deleted-signal-messages/"
    ]
    units = posts[485].text.encode("utf-16-le")
    e = hidden[0]
    assert units[e.offset * 2 : (e.offset + e.length) * 2].decode("utf-16-le") == "got access"
    assert "9to5mac.com/2026" not in posts[485].text  # the URL is only in the entity
    # 488: a URL shown as itself is a url entity.
    plain = [e for e in posts[488].entities if e.kind in ("url", "texturl")]
    assert [e.kind for e in plain] == ["url"]
    # 482: bold runs, e.g. "10× faster"
    bold = [
        posts[482]
        .text.encode("utf-16-le")[b.offset * 2 : (b.offset + b.length) * 2]
        .decode("utf-16-le")
        for b in posts[482].entities
        if b.kind == "bold"
    ]
    assert bold[:2] == ["10× faster", "increased 6×"]
    assert utf16_len(posts[482].text) >= len(posts[482].text)


def test_forwards_replies_previews() -> None:
    dm = {p.message_id: p for p in _page("disgustingmen").posts}
    assert dm[15138].forward is not None
    assert (dm[15138].forward.from_name, dm[15138].forward.message_id) == ("Петя и комп", 214)
    assert dm[15146].reply_to == 15138 and dm[15146].forward is None
    # The reply's quoted text is not the post's text.
    assert dm[15146].text.startswith("Пока эпизод с Крисом Авеллоном")
    assert dm[15152].link_preview is not None
    assert dm[15152].link_preview.url == "https://youtu.be/vtcVVSn98xo?si=aeA-UP3BB6_dMryZ"
    assert dm[15152].link_preview.site_name == "YouTube"
    assert 15142 not in dm  # the pin notice is a service message
    md = {p.message_id: p for p in _page("meduzalive").posts}
    assert md[141883].reply_to == 141875
    assert md[141878].forward.from_name == "Медуза — все новости"
    mentions = [e for e in md[141878].entities if e.kind == "mention"]
    assert len(mentions) == 1
    assert md[141879].media.kind == "audio"
    assert _page("telegram").posts[2].media.duration == 6.0  # "0:06"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html>",
        "\x00\x01\x02 garbage",
        "<html><body>"
        + "<div class='tgme_widget_message' data-post='x/1'>" * 2000
        + "</body></html>",
        "<div class='tgme_widget_message' data-post='a/b' data-view='!!'></div></html>",
        "<div class='tgme_widget_message' data-post='a/5'><a class='tgme_widget_message_date'>"
        "<time datetime='yesterday'></time></a></div></html>",
    ],
)
def test_malformed_pages_are_unknown_not_a_crash(html: str) -> None:
    page = parse_page(html)
    assert page.kind == "unknown" and page.posts == ()


def test_embed_pages() -> None:
    assert parse_embed('<div class="tgme_widget_message_error">Post not found</div>') == "not_found"
    assert parse_embed("<html></html>") == "unknown"
