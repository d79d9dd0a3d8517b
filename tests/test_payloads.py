"""Each event kind's payload is defined once: written, stored, read back the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage import kinds, payloads

EXAMPLES: list[payloads.Payload] = [
    payloads.PostNew(
        message_id=7,
        text="Пост",
        media_kind="album",
        grouped_id=9,
        album_size=3,
        media=payloads.MediaInfo(kind="video", size=48 << 20, duration=552.0, width=1280),
        forwarded_from="Другой канал",
    ),
    payloads.PostEdited(
        message_id=7,
        before="a",
        after="b",
        edit_date=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        changes=["text", "links", "media_replaced"],
        links_before=["https://a.example"],
        links_after=["https://b.example"],
        media_before=payloads.MediaInfo(kind="photo"),
        media_after=payloads.MediaInfo(kind="video"),
    ),
    payloads.PostDeleted(
        message_id=7, text="был", date=datetime(2026, 1, 1, tzinfo=UTC), mass=True, count=6
    ),
    payloads.LabelAdded(label="restricted:ios:ru", text="Запрещено"),
    payloads.LabelRemoved(label="fake"),
    payloads.Renamed(before="Путь домой", after="Путь домой (архив)"),
    payloads.UsernameChanged(before="putdomoi", after=None),
    payloads.AboutChanged(before="", after="new"),
    payloads.PhotoChanged(before=5, after=6),
    payloads.Unavailable(reason="private", detail="ChannelPrivateError"),
    payloads.Unavailable(
        reason="private_or_deleted", answer="CHANNEL_PRIVATE", username="putdomoi"
    ),
    payloads.Available(unavailable_hours=3.5),
    payloads.SubscribersJump(before=100, after=130, change_pct=30.0, window_hours=6.0),
    payloads.SubscribersJump(before=38_299, after=45_000, change_pct=17.5, approximate=True),
    payloads.PreviewWithheld(
        text="This channel can’t be displayed because it violated local laws."
    ),
    payloads.PreviewRestored(),
    payloads.Broadcast(text="<b>hi</b>"),
]


def test_every_kind_has_one_model() -> None:
    every = {k for group in kinds.GROUPS.values() for k in group} | {kinds.BROADCAST}
    assert set(payloads.MODELS) == every
    assert {type(p).kind for p in EXAMPLES} == every


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: p.kind)
def test_round_trip(payload: payloads.Payload) -> None:
    stored = payload.dump()
    assert payloads.load(payload.kind, stored) == payload


def test_damaged_fields_take_defaults_and_keep_the_rest() -> None:
    loaded = payloads.load(kinds.POST_DELETED, {"message_id": "x", "text": 5, "count": 3})
    assert isinstance(loaded, payloads.PostDeleted)
    assert (loaded.message_id, loaded.text, loaded.count) == (0, "", 3)


def test_rows_of_older_versions_and_unknown_kinds_load() -> None:
    # Rows stored before the models existed wrote dates with isoformat().
    old = {"message_id": 3, "before": "a", "after": "b", "edit_date": "2025-05-01T10:00:00+00:00"}
    loaded = payloads.load(kinds.POST_EDITED, old)
    assert isinstance(loaded, payloads.PostEdited)
    assert loaded.edit_date == datetime(2025, 5, 1, 10, tzinfo=UTC)
    assert payloads.load("channel.from_the_future", {"x": 1}).dump() == {"x": 1}
    assert payloads.load(kinds.POST_NEW, None) == payloads.PostNew()


def test_unavailable_rows_from_before_the_answer_was_kept_load() -> None:
    loaded = payloads.load(kinds.UNAVAILABLE, {"reason": "private", "detail": None})
    assert isinstance(loaded, payloads.Unavailable)
    assert (loaded.reason, loaded.answer, loaded.username) == ("private", None, None)
