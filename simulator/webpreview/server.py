"""The simulated world's public web preview: t.me/s pages over real HTTP.

The markup follows the real pages in shared/fixtures/tme (see FIDELITY_WEBPREVIEW.md):
the same classes, nesting and attributes the collector reads, so that a simulated page
and a real page with the same content parse alike.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from simulator.mtproto.world import ChannelModel, Post, World

PAGE_SIZE = 20


def abbreviate(n: int) -> str:
    """Telegram's short counters: 93, 21.7K, 279K, 1.96M (three digits, cut, not rounded)."""
    if n < 1000:
        return str(n)
    for scale, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if n >= scale:
            value = n / scale
            digits = 2 if value < 10 else 1 if value < 100 else 0
            cut = int(value * 10**digits) / 10**digits
            text = f"{cut:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{int(cut)}"
            return text + suffix
    return str(n)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _rich(text: str) -> str:
    return _esc(text).replace("\n", "<br/>")


@dataclass
class _Fault:
    kind: str
    times: int


class WebPreviewSimulator:
    """Serves /s/<name>, /<name> and /<name>/<id>?embed=1 for a World."""

    def __init__(self, world: World, *, host: str = "127.0.0.1") -> None:
        self.world = world
        self.host = host
        self.withheld: dict[str, str] = {}
        self.requests: list[str] = []
        # Seconds before /s/ pages are answered (t.me takes a few hundred milliseconds).
        self.latency = 0.0
        self._faults: list[_Fault] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # --- script -------------------------------------------------------------------

    def withhold(self, name: str, text: str = "") -> None:
        """Telegram hides the channel's post list; `text` is the notice shown, if any."""
        self.withheld[name.lower()] = text

    def restore(self, name: str) -> None:
        self.withheld.pop(name.lower(), None)

    def fail_next(self, kind: str, times: int = 1) -> None:
        """status:<code>, retry_after:<s>, truncated, empty, huge, latin1, redirect_loop."""
        self._faults.append(_Fault(kind, times))

    # --- server -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the web preview simulator is not started")
        return self._base_url

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/s/{name}", self._s)
        app.router.add_get("/loop/{n}", self._loop)
        app.router.add_get("/{name}", self._channel_page)
        app.router.add_get("/{name}/{id}", self._embed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base_url = f"http://{self.host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- handlers -----------------------------------------------------------------

    def _fault(self) -> web.Response | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._faults.pop(0)
        kind, _, arg = fault.kind.partition(":")
        if kind == "status":
            return web.Response(status=int(arg), text="error")
        if kind == "retry_after":
            return web.Response(status=429, headers={"Retry-After": arg}, text="Too Many Requests")
        if kind == "empty":
            return web.Response(status=200, text="", content_type="text/html")
        if kind == "huge":
            return web.Response(body=b"<html>" + b" " * 5_000_000 + b"</html>")
        if kind == "latin1":
            body = "<html><body>Ca\xf1al</body></html>".encode("latin-1")
            return web.Response(body=body, content_type="text/html")
        if kind == "redirect_loop":
            raise web.HTTPFound("/loop/1")
        if kind == "garbage":
            return web.Response(
                text="<html><body><p>hello</p></body></html>", content_type="text/html"
            )
        return None

    async def _loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    async def _s(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if self.latency:
            await asyncio.sleep(self.latency)
        name = request.match_info["name"]
        truncated = self._truncate_next()
        if (fault := self._fault()) is not None:
            return fault
        ch = self._public(name)
        if ch is None or name.lower() in self.withheld:
            # No public post list: Telegram answers with the plain page (not /s/).
            raise web.HTTPFound(f"/{name}")
        before = request.query.get("before", "")
        page = render_channel(ch, before=int(before) if before.isdigit() else None)
        return _html(page[: len(page) // 2] if truncated else page)

    def _truncate_next(self) -> bool:
        if self._faults and self._faults[0].kind == "truncated":
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return True
        return False

    async def _channel_page(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        name = request.match_info["name"]
        ch = self._public(name)
        if ch is None:
            return _html(render_not_found(name))
        return _html(render_plain_page(ch, self.withheld.get(name.lower(), "")))

    async def _embed(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if (fault := self._fault()) is not None:
            return fault
        ch = self._public(request.match_info["name"])
        post_id = request.match_info["id"]
        post = ch.posts.get(int(post_id)) if ch is not None and post_id.isdigit() else None
        if ch is None or post is None or post.deleted or post.is_service:
            return _html(render_embed_missing())
        return _html(_document(f"{ch.title} – Telegram", _message(ch, [post])))

    def _public(self, name: str) -> ChannelModel | None:
        found = self.world.find_username(name)
        if not isinstance(found, ChannelModel) or found.deleted:
            return None
        return found


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta charset="utf-8">\n'
        f"    <title>{_esc(title)}</title>\n  </head>\n"
        f'  <body class="widget_frame_base tgme_webpreview">\n{body}\n  </body>\n</html>\n'
        "<!-- page generated by the chanwatch simulator -->\n"
    )


def _photo(ch: ChannelModel) -> str:
    return f"https://cdn4.telesco.pe/file/sim{ch.photo_id or 0}.jpg"


def _data_view(ch: ChannelModel, post: Post) -> str:
    raw = json.dumps(
        {"c": -ch.id, "p": post.id, "t": int(post.date.timestamp()), "h": "0" * 18},
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _media(ch: ChannelModel, post: Post) -> str:
    media = post.media
    href = f"https://t.me/{ch.username}/{post.id}"
    if media is None:
        return ""
    if media.kind == "photo":
        return (
            f'<a class="tgme_widget_message_photo_wrap" href="{href}" '
            f"style=\"width:{media.w}px;background-image:url('https://cdn4.telesco.pe/file/"
            f'p{media.id}.jpg\')">\n  <div class="tgme_widget_message_photo" '
            'style="padding-top:75%"></div>\n</a>'
        )
    if media.kind == "video":
        seconds = int(media.duration)
        return (
            f'<a class="tgme_widget_message_video_player not_supported js-message_video_player" '
            f'href="{href}"><i class="tgme_widget_message_video_thumb"></i>\n'
            f'<div class="tgme_widget_message_video_wrap" style="width:{media.w}px"></div>\n'
            '<div class="message_video_play js-message_video_play"></div>\n'
            '<time class="message_video_duration js-message_video_duration">'
            f"{seconds // 60}:{seconds % 60:02d}</time>\n</a>"
        )
    return (
        f'<a class="tgme_widget_message_document_wrap" href="{href}">\n'
        '  <div class="tgme_widget_message_document_icon accent_bg"></div>\n'
        '  <div class="tgme_widget_message_document">\n'
        '    <div class="tgme_widget_message_document_title accent_color" dir="auto">'
        f"{_esc(media.file_name or 'file')}</div>\n  </div>\n</a>"
    )


def _message(ch: ChannelModel, group: list[Post]) -> str:
    first = group[0]
    name = ch.username or ""
    service = first.is_service
    classes = "tgme_widget_message text_not_supported_wrap js-widget_message"
    if service:
        classes = "tgme_widget_message text_not_supported_wrap service_message js-widget_message"
    if service:
        action, value = first.action or ("", "")
        said = (
            "Channel created"
            if action == "channel_create"
            else (f"Channel name was changed to «{_esc(value)}»")
        )
        text = f'<div class="tgme_widget_message_text js-message_text" dir="auto">{said}</div>'
        media = ""
    else:
        if len(group) > 1:
            media = (
                '<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap">'
                '<div class="tgme_widget_message_grouped js-message_grouped">'
                '<div class="tgme_widget_message_grouped_layer js-message_grouped_layer">'
                + "".join(_media(ch, p) for p in group)
                + "</div></div></div>"
            )
        else:
            media = _media(ch, first)
        body = next((p.text for p in group if p.text), "")
        text = (
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{_rich(body)}</div>'
            if body
            else ""
        )
    views = (
        ""
        if service
        else f'<span class="tgme_widget_message_views">{abbreviate(first.views)}</span>'
        '<span class="copyonly"> views</span>'
    )
    edited = "edited &nbsp;" if any(p.edit_date for p in group) else ""
    date = first.date.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return f"""<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="{classes}" data-post="{name}/{first.id}" data-view="{_data_view(ch, first)}">
  <div class="tgme_widget_message_user"><a href="https://t.me/{name}"><i class="tgme_widget_message_user_photo bgcolor2"><img src="{_photo(ch)}"></i></a></div>
  <div class="tgme_widget_message_bubble">
    <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" href="https://t.me/{name}"><span dir="auto">{_esc(ch.title)}</span></a></div>
{media}{text}
<div class="tgme_widget_message_footer compact js-message_footer">
  <div class="tgme_widget_message_info short js-message_info">
    {views}<span class="tgme_widget_message_meta">{edited}<a class="tgme_widget_message_date" href="https://t.me/{name}/{first.id}"><time datetime="{date}" class="time">{first.date:%H:%M}</time></a></span>
  </div>
</div>
  </div>
</div></div>"""


def _groups(posts: Iterable[Post]) -> list[list[Post]]:
    """An album is one message on the page, under its first post's id."""
    groups: list[list[Post]] = []
    for post in sorted(posts, key=lambda p: p.id):
        if groups and post.grouped_id and groups[-1][0].grouped_id == post.grouped_id:
            groups[-1].append(post)
        else:
            groups.append([post])
    return groups


def render_channel(ch: ChannelModel, *, before: int | None = None) -> str:
    name = ch.username or ""
    alive = [p for p in ch.posts.values() if not p.deleted and (before is None or p.id < before)]
    groups = _groups(alive)[-PAGE_SIZE:]
    more = ""
    if groups and any(p.id < groups[0][0].id for p in ch.posts.values() if not p.deleted):
        oldest = groups[0][0].id
        more = (
            '<div class="tgme_widget_message_centered js-messages_more_wrap">'
            f'<a href="/s/{name}?before={oldest}" class="tme_messages_more js-messages_more" '
            f'data-before="{oldest}"></a></div>'
        )
    labels = '<i class="verified-icon"> ✔</i>' if ch.verified else ""
    about = (
        f'          <div class="tgme_channel_info_description">{_rich(ch.about)}</div>\n'
        if ch.about
        else ""
    )
    counters = (
        '<div class="tgme_channel_info_counter"><span class="counter_value">'
        f'{abbreviate(ch.participants_count)}</span> <span class="counter_type">subscribers'
        "</span></div>"
    )
    body = f"""    <div class="tgme_header_right_column">
      <section class="tgme_right_column">
        <div class="tgme_channel_info">
          <div class="tgme_channel_info_header">
            <i class="tgme_page_photo_image bgcolor2" data-content="{_esc(ch.title[:1])}"><img src="{_photo(ch)}"></i>
            <div class="tgme_channel_info_header_title_wrap">
              <div class="tgme_channel_info_header_title"><span dir="auto">{_esc(ch.title)}</span></div>
              <div class="tgme_channel_info_header_labels">{labels}</div>
            </div>
            <div class="tgme_channel_info_header_username"><a href="https://t.me/{name}">@{name}</a></div>
          </div>
          <div class="tgme_channel_info_counters">{counters}</div>
{about}        </div>
      </section>
    </div>
<main class="tgme_main" data-url="/{name}">
  <div class="tgme_container">
    <section class="tgme_channel_history js-message_history">
      {more}{"".join(_message(ch, g) for g in groups)}
    </section>
  </div>
</main>"""
    return _document(f"{ch.title} – Telegram", body)


def render_plain_page(ch: ChannelModel, notice: str) -> str:
    """t.me/<name>: the channel's card, where no post list is public."""
    count = f"{ch.participants_count:,}".replace(",", " ")
    verified = '<i class="verified-icon"></i>' if ch.verified else ""
    description = _rich(notice) if notice else _rich(ch.about)
    body = f"""<div class="tgme_page_wrap">
  <div class="tgme_page">
    <div class="tgme_page_photo"><a href="tg://resolve?domain={ch.username}"><img class="tgme_page_photo_image" src="{_photo(ch)}"></a></div>
    <div class="tgme_page_title"><span dir="auto">{_esc(ch.title)}</span>{verified}</div>
    <div class="tgme_page_extra">{count} subscribers</div>
    <div class="tgme_page_description" dir="auto">{description}</div>
  </div>
</div>"""
    return _document(f"Telegram: View @{ch.username}", body)


def render_not_found(name: str) -> str:
    body = f"""<div class="tgme_page_wrap">
  <div class="tgme_page">
    <div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact <a class="tgme_username_link" href="tg://resolve?domain={_esc(name)}">@{_esc(name)}</a> right away.</div>
  </div>
</div>"""
    return _document(f"Telegram: Contact @{name}", body)


def render_embed_missing() -> str:
    body = '<div class="tgme_widget_message_error">Post not found</div>'
    return _document("Telegram Widget", body)


__all__: list[str] = [
    "WebPreviewSimulator",
    "abbreviate",
    "render_channel",
    "render_embed_missing",
    "render_not_found",
    "render_plain_page",
]
