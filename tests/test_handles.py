"""What moderators type to name a channel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.handles import Handle, HandleError, parse_handle


@pytest.mark.parametrize(
    ("text", "handle"),
    [
        ("@putdomoi", Handle(username="putdomoi")),
        ("putdomoi", Handle(username="putdomoi")),
        ("t.me/putdomoi", Handle(username="putdomoi")),
        ("https://t.me/s/putdomoi", Handle(username="putdomoi")),
        ("https://t.me/putdomoi/123", Handle(username="putdomoi")),
        ("telegram.me/putdomoi", Handle(username="putdomoi")),
        ("  @PutDomoi  ", Handle(username="PutDomoi")),
        ("1234567890", Handle(tg_id=1234567890)),
        ("-1001234567890", Handle(tg_id=1234567890)),
        ("https://t.me/c/1234567890/55", Handle(tg_id=1234567890)),
    ],
)
def test_accepted_forms(text: str, handle: Handle) -> None:
    assert parse_handle(text) == handle


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("https://t.me/+AbCdEf123", "private_link"),
        ("t.me/joinchat/AbCdEf", "private_link"),
        ("@abc", "invalid"),
        ("@bad__name", "invalid"),
        ("@1startsdigit", "invalid"),
        ("https://example.com/putdomoi", "invalid"),
        ("-12345", "not_channel"),
        ("a[b", "invalid"),
        ("[", "invalid"),
        ("<b>@putdomoi</b>", "invalid"),
    ],
)
def test_refused_forms_say_why(text: str, code: str) -> None:
    with pytest.raises(HandleError) as caught:
        parse_handle(text)
    assert caught.value.code == code


@given(st.text(max_size=300))
def test_any_text_is_a_handle_or_a_handle_error(text: str) -> None:
    try:
        parse_handle(text)
    except HandleError:
        pass
