"""The simulated Telegram world: channels, users, accounts, and the script API.

Everything here is synchronous and runs on the event loop thread that hosts the
connections (an in-process ``SimulatedSender`` or the ``WorldServer``). A script call
changes the model and pushes the matching TL updates to the connected clients of the
accounts that joined the channel, the way Telegram does.

Telegram behaviours reproduced on purpose (see ``simulator/FIDELITY_MTPROTO.md``):

* live updates only reach accounts that joined the channel;
* every message event (new, edit, delete) advances the channel ``pts`` by its
  ``pts_count``; a skipped push (``push=False``) leaves a gap that Telethon fills with
  ``updates.getChannelDifference``;
* ``UpdateChannel`` carries only the id; the bundled channel may be ``min`` (partial);
* a new channel starts with a ``MessageService(MessageActionChannelCreate)`` at id 1 and a
  rename posts a ``MessageActionChatEditTitle`` service message, consuming ids and pts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from telethon.tl import types

from . import _tl

UTC = _dt.UTC

# https://core.telegram.org/api/channel: accounts can be in at most 500 channels/supergroups.
MAX_JOINED_CHANNELS = 500

_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")

DateLike = _dt.datetime | float | int | str | None


class WorldError(Exception):
    """A script asked for something impossible (unknown channel, taken username...)."""


class RpcFail(Exception):
    """An RPC error as Telegram sends it: numeric code and an upper-case message."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WorldConnection(Protocol):
    """What the world needs from a connected client (in-process sender or TCP session)."""

    account: str
    receive_updates: bool

    def deliver(self, updates: Any) -> None: ...

    def drop(self, error: BaseException) -> None: ...


class ManualClock:
    """A clock for deterministic tests: ``World(now=clock)``; ``clock.advance(60)``."""

    def __init__(self, start: DateLike = None):
        self._t = _to_timestamp(start) if start is not None else 1_700_000_000.0

    def __call__(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, when: DateLike) -> None:
        self._t = _to_timestamp(when)


def _to_timestamp(value: DateLike) -> float:
    if value is None:
        raise ValueError("no date")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, str):
        return _to_timestamp(_dt.datetime.fromisoformat(value))
    return float(value)


def _to_datetime(value: DateLike) -> _dt.datetime:
    # TL dates travel as whole seconds.
    return _dt.datetime.fromtimestamp(int(_to_timestamp(value)), tz=UTC)


@dataclass
class Media:
    kind: str  # photo | video | document
    id: int
    access_hash: int
    date: _dt.datetime
    size: int
    mime_type: str
    file_name: str | None = None
    w: int = 1280
    h: int = 720
    duration: float = 15.0


@dataclass
class Post:
    id: int
    date: _dt.datetime
    text: str = ""
    media: Media | None = None
    grouped_id: int | None = None
    edit_date: _dt.datetime | None = None
    views: int = 0
    forwards: int = 0
    reactions: dict[str, int] = field(default_factory=dict)
    deleted: bool = False
    # Service messages: ("channel_create", title) or ("edit_title", title).
    action: tuple[str, str] | None = None

    @property
    def is_service(self) -> bool:
        return self.action is not None


@dataclass
class PtsEvent:
    pts: int
    pts_count: int
    kind: str  # new | edit | delete
    ids: tuple[int, ...]


@dataclass
class ChannelModel:
    id: int
    access_hash: int
    title: str
    username: str | None
    about: str
    date: _dt.datetime
    photo_id: int | None = None
    fake: bool = False
    scam: bool = False
    verified: bool = False
    restriction_reasons: list[tuple[str, str, str]] = field(default_factory=list)
    participants_count: int = 0
    pts: int = 1
    posts: dict[int, Post] = field(default_factory=dict)
    next_message_id: int = 1
    log: list[PtsEvent] = field(default_factory=list)
    deleted: bool = False
    banned_all: bool = False
    banned_accounts: set[str] = field(default_factory=set)
    min_updates: bool = False
    released_username: str | None = None  # kept while deleted, reclaimed on restore

    @property
    def restricted(self) -> bool:
        return bool(self.restriction_reasons)

    @property
    def private(self) -> bool:
        return self.username is None

    @property
    def top_message_id(self) -> int:
        alive = [p.id for p in self.posts.values() if not p.deleted]
        return max(alive, default=0)

    def alive_posts(self) -> list[Post]:
        """Existing messages, newest first (the order getHistory returns)."""
        return sorted((p for p in self.posts.values() if not p.deleted), key=lambda p: -p.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "access_hash": self.access_hash,
            "username": self.username,
            "title": self.title,
            "about": self.about,
            "photo_id": self.photo_id,
            "fake": self.fake,
            "scam": self.scam,
            "verified": self.verified,
            "restricted": self.restricted,
            "restriction_reasons": [list(r) for r in self.restriction_reasons],
            "participants_count": self.participants_count,
            "pts": self.pts,
            "top_message_id": self.top_message_id,
            "deleted": self.deleted,
            "banned_all": self.banned_all,
            "banned_accounts": sorted(self.banned_accounts),
            "private": self.private,
        }


@dataclass
class UserModel:
    id: int
    access_hash: int
    username: str | None
    first_name: str
    bot: bool = False
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "access_hash": self.access_hash,
            "username": self.username,
            "first_name": self.first_name,
            "bot": self.bot,
        }


@dataclass
class Account:
    """A logged-in Telegram account (one per simulated client session)."""

    name: str
    user: UserModel
    authorized: bool = True
    joined: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "user": self.user.to_json(),
            "authorized": self.authorized,
            "joined": sorted(self.joined),
        }


@dataclass
class RequestRecord:
    timestamp: float
    name: str
    account: str
    request: Any


@dataclass
class _Injection:
    name: str
    code: int
    message: str
    times: int
    account: str | None


@dataclass
class _RateLimit:
    name: str
    calls: int
    per: float
    account: str | None
    hits: dict[str, list[float]] = field(default_factory=dict)


# Script operations a control connection may run (see remote.py).
CONTROL_OPS = frozenset(
    {
        "create_channel",
        "post",
        "post_album",
        "edit",
        "delete",
        "set_label",
        "restrict",
        "unrestrict",
        "rename",
        "set_username",
        "set_about",
        "set_photo",
        "set_participants",
        "set_views",
        "make_private",
        "make_public",
        "ban",
        "delete_channel",
        "restore",
        "create_user",
        "create_bot",
        "add_account",
        "flood_wait",
        "fail",
        "rate_limit",
        "clear_injections",
        "set_min_channel_updates",
        "disconnect_clients",
        "describe",
        "channel_posts",
        "get_requests_log",
        "clear_requests_log",
        "count_requests",
        "account_info",
        "set_max_joined_channels",
    }
)


class World:
    """A world of channels that scripts change and Telethon clients observe.

    ``now``: a callable returning a UNIX timestamp or an aware ``datetime``
    (default ``time.time``); ``ManualClock`` is a convenient one.
    ``per_account_access_hash``: like Telegram, give every account its own
    ``access_hash`` for the same channel (off by default so that
    ``channel.access_hash`` is what every client sees).
    """

    def __init__(
        self,
        now: Callable[[], Any] | None = None,
        *,
        seed: int = 0,
        latency: float = 0.0,
        service_messages: bool = True,
        per_account_access_hash: bool = False,
        max_joined_channels: int = MAX_JOINED_CHANNELS,
    ):
        self._clock = now or time.time
        self._seed = seed
        self._counter = 0
        self.latency = latency
        self.service_messages = service_messages
        self.per_account_access_hash = per_account_access_hash
        self.max_joined_channels = max_joined_channels
        self.channels: dict[int, ChannelModel] = {}
        self.users: dict[int, UserModel] = {}
        self.accounts: dict[str, Account] = {}
        self.media: dict[int, Media] = {}
        self.requests_log: list[tuple[float, str]] = []
        self.request_records: list[RequestRecord] = []
        self.account_pts = 1
        self._connections: list[WorldConnection] = []
        self._injections: list[_Injection] = []
        self._rate_limits: list[_RateLimit] = []
        self._next_channel_id = 1_900_000_000
        self._next_user_id = 6_000_000_000
        self._next_media_id = 5_100_000_000_000_000_000

    # ------------------------------------------------------------------ clock, ids

    def now(self) -> _dt.datetime:
        return _to_datetime(self._clock())

    def time(self) -> float:
        return _to_timestamp(self._clock())

    def _hash64(self, *parts: Any) -> int:
        digest = hashlib.sha256(repr((self._seed, *parts)).encode()).digest()
        value = int.from_bytes(digest[:8], "big", signed=True)
        return value or 1

    def _new_hash(self) -> int:
        self._counter += 1
        return self._hash64("hash", self._counter)

    # ------------------------------------------------------------------ lookups

    def channel(self, ref: int | str | ChannelModel) -> ChannelModel:
        """A channel by id, model, or username (``"@name"`` or ``"name"``)."""
        if isinstance(ref, ChannelModel):
            return ref
        if isinstance(ref, str):
            name = ref.lstrip("@").lower()
            for attr in ("username", "released_username"):  # a live owner wins
                for ch in self.channels.values():
                    candidate = getattr(ch, attr)
                    if candidate and candidate.lower() == name:
                        return ch
            raise WorldError(f"no channel with username {ref!r}")
        try:
            return self.channels[int(ref)]
        except (KeyError, ValueError, TypeError):
            raise WorldError(f"no channel {ref!r}") from None

    def account(self, name: str) -> Account:
        """The account called ``name``, created (authorized) on first use."""
        acct = self.accounts.get(name)
        if acct is None:
            acct = self.add_account(name)
        return acct

    def access_hash_for(self, ch: ChannelModel | int | str, account: str) -> int:
        ch = self.channel(ch)
        if not self.per_account_access_hash:
            return ch.access_hash
        return self._hash64("acct-hash", ch.access_hash, account)

    def min_access_hash(self, ch: ChannelModel) -> int:
        # Since layer 102 min constructors carry a different hash, usable only for files.
        return self._hash64("min-hash", ch.id)

    def find_username(self, username: str) -> ChannelModel | UserModel | None:
        name = username.lower()
        for ch in self.channels.values():
            if ch.username and ch.username.lower() == name and not ch.deleted:
                return ch
        for user in self.users.values():
            if user.username and user.username.lower() == name:
                return user
        return None

    def _check_username_free(self, username: str, owner: object = None) -> None:
        if not _USERNAME_RE.match(username) or username.endswith("_") or "__" in username:
            raise WorldError(f"invalid username {username!r}")
        taken = self.find_username(username)
        if taken is not None and taken is not owner:
            raise WorldError(f"username {username!r} is taken")

    # ------------------------------------------------------------------ connections

    def _attach(self, conn: WorldConnection) -> None:
        self.account(conn.account)
        if conn not in self._connections:
            self._connections.append(conn)

    def _detach(self, conn: WorldConnection) -> None:
        if conn in self._connections:
            self._connections.remove(conn)

    @property
    def connections(self) -> list[WorldConnection]:
        return list(self._connections)

    def disconnect_clients(self, account: str | None = None) -> int:
        """Drop the connections (all, or one account's) as if the network failed for good.

        Each client's ``disconnected`` future fails with ``ConnectionError``; its sends raise
        ``ConnectionError`` until ``client.connect()`` is called again. Returns how many
        connections were dropped.
        """
        dropped = 0
        for conn in list(self._connections):
            if account is None or conn.account == account:
                self._detach(conn)
                conn.drop(ConnectionError("Connection to Telegram lost (simulated)"))
                dropped += 1
        return dropped

    def _joined_accounts(self, ch: ChannelModel) -> list[str]:
        return [name for name, acct in self.accounts.items() if ch.id in acct.joined]

    def _push(self, ch: ChannelModel, build: Callable[[str], list[Any]], *, min_chat=False):
        """Send ``types.Updates`` to every connected client of the accounts in ``ch``."""
        date = self.now()
        for name in self._joined_accounts(ch):
            updates = build(name)
            if not updates:
                continue
            chat = _tl.min_channel(self, ch) if min_chat else _tl.channel(self, ch, name)
            container = types.Updates(updates=updates, users=[], chats=[chat], date=date, seq=0)
            for conn in list(self._connections):
                if conn.account == name and conn.receive_updates:
                    conn.deliver(container)

    def _push_channel_update(self, ch: ChannelModel) -> None:
        self._push(
            ch, lambda _name: [types.UpdateChannel(channel_id=ch.id)], min_chat=ch.min_updates
        )

    # ------------------------------------------------------------------ users, accounts

    def _new_user(self, username: str | None, first_name: str, *, bot: bool) -> UserModel:
        if username is not None:
            self._check_username_free(username)
        self._next_user_id += 7
        user = UserModel(
            id=self._next_user_id,
            access_hash=self._new_hash(),
            username=username,
            first_name=first_name,
            bot=bot,
        )
        self.users[user.id] = user
        return user

    def create_user(self, username: str, first_name: str | None = None) -> UserModel:
        """A person with a public username (``contacts.resolveUsername`` gives a User)."""
        return self._new_user(username, first_name or username, bot=False)

    def create_bot(self, username: str, first_name: str | None = None) -> UserModel:
        """A bot (its username must end in "bot" on Telegram; not enforced)."""
        return self._new_user(username, first_name or username, bot=True)

    def add_account(
        self,
        name: str,
        *,
        first_name: str | None = None,
        username: str | None = None,
        authorized: bool = True,
    ) -> Account:
        """Register an account; clients connect as it with ``account=name``."""
        if name in self.accounts:
            raise WorldError(f"account {name!r} exists")
        user = self._new_user(username, first_name or f"chanwatch {name}", bot=False)
        user.phone = f"999{user.id % 10_000_000:07d}"
        acct = Account(name=name, user=user, authorized=authorized)
        self.accounts[name] = acct
        return acct

    def account_info(self, name: str) -> Account:
        return self.account(name)

    def set_max_joined_channels(self, n: int) -> None:
        self.max_joined_channels = n

    # ------------------------------------------------------------------ channels

    def create_channel(
        self,
        username: str | None,
        title: str,
        about: str = "",
        participants: int = 0,
        *,
        verified: bool = False,
        fake: bool = False,
        scam: bool = False,
        photo_id: int | None = None,
        restriction_reasons: Iterable[tuple[str, str, str]] = (),
        date: DateLike = None,
        channel_id: int | None = None,
        access_hash: int | None = None,
    ) -> ChannelModel:
        """A broadcast channel (public if ``username`` is given, else private)."""
        if username is not None:
            self._check_username_free(username)
        if channel_id is None:
            self._next_channel_id += 37
            while self._next_channel_id in self.channels:
                self._next_channel_id += 37
            channel_id = self._next_channel_id
        elif channel_id in self.channels:
            raise WorldError(f"channel id {channel_id} exists")
        created = self.now() if date is None else _to_datetime(date)
        ch = ChannelModel(
            id=channel_id,
            access_hash=access_hash if access_hash is not None else self._new_hash(),
            title=title,
            username=username,
            about=about,
            date=created,
            photo_id=photo_id if photo_id is not None else self._next_photo_id(),
            fake=fake,
            scam=scam,
            verified=verified,
            restriction_reasons=[tuple(r) for r in restriction_reasons],  # type: ignore[misc]
            participants_count=participants,
        )
        self.channels[ch.id] = ch
        if self.service_messages:
            mid = self._take_id(ch)
            ch.posts[mid] = Post(id=mid, date=created, action=("channel_create", title))
        return ch

    def _next_photo_id(self) -> int:
        self._next_media_id += 1
        return self._next_media_id

    def _take_id(self, ch: ChannelModel) -> int:
        mid = ch.next_message_id
        ch.next_message_id += 1
        return mid

    def _advance_pts(self, ch: ChannelModel, kind: str, ids: tuple[int, ...]) -> PtsEvent:
        count = len(ids) if kind == "delete" else 1
        ch.pts += count
        event = PtsEvent(pts=ch.pts, pts_count=count, kind=kind, ids=ids)
        ch.log.append(event)
        return event

    def _make_media(self, spec: Any, date: _dt.datetime) -> Media | None:
        if spec is None or spec == "none":
            return None
        if isinstance(spec, Media):
            return spec
        if isinstance(spec, str):
            spec = {"kind": spec}
        spec = dict(spec)
        kind = spec.pop("kind")
        defaults: dict[str, dict[str, Any]] = {
            "photo": {"size": 2048, "mime_type": "image/jpeg", "w": 800, "h": 600},
            "video": {"size": 8192, "mime_type": "video/mp4", "file_name": "video.mp4"},
            "document": {
                "size": 4096,
                "mime_type": "application/pdf",
                "file_name": "document.pdf",
            },
        }
        if kind not in defaults:
            raise WorldError(f"unknown media kind {kind!r} (photo, video, document)")
        self._next_media_id += 1
        media = Media(
            kind=kind,
            id=self._next_media_id,
            access_hash=self._new_hash(),
            date=date,
            **{**defaults[kind], **spec},
        )
        self.media[media.id] = media
        return media

    def post(
        self,
        ch_id: int | str | ChannelModel,
        text: str = "",
        *,
        media: Any = None,
        grouped_id: int | None = None,
        date: DateLike = None,
        views: int = 0,
        forwards: int = 0,
        reactions: int | dict[str, int] | None = None,
        push: bool = True,
    ) -> int:
        """Publish a post; returns its message id. ``push=False``: the update is lost
        on the way (pts still advances, so the next push reveals a gap)."""
        return self.post_album(
            ch_id,
            [
                {
                    "text": text,
                    "media": media,
                    "views": views,
                    "forwards": forwards,
                    "reactions": reactions,
                }
            ],
            grouped_id=grouped_id,
            date=date,
            push=push,
            _album=False,
        )[0]

    def post_album(
        self,
        ch_id: int | str | ChannelModel,
        items: list[dict[str, Any]],
        *,
        grouped_id: int | None = None,
        date: DateLike = None,
        push: bool = True,
        _album: bool = True,
    ) -> list[int]:
        """Publish several posts at once (an album shares ``grouped_id``), pushed in one
        ``Updates`` like Telegram does. Items: dicts with text, media, views, forwards."""
        ch = self.channel(ch_id)
        when = self.now() if date is None else _to_datetime(date)
        if _album and grouped_id is None:
            grouped_id = self._new_hash() & 0x7FFF_FFFF_FFFF_FFFF
        updates = []
        ids = []
        for item in items:
            mid = self._take_id(ch)
            reactions = item.get("reactions")
            post = Post(
                id=mid,
                date=when,
                text=item.get("text") or "",
                media=self._make_media(item.get("media"), when),
                grouped_id=grouped_id,
                views=item.get("views") or 0,
                forwards=item.get("forwards") or 0,
                reactions=_reactions(reactions),
            )
            ch.posts[mid] = post
            event = self._advance_pts(ch, "new", (mid,))
            updates.append((post, event))
            ids.append(mid)
        if push:
            self._push(
                ch,
                lambda _name: [
                    types.UpdateNewChannelMessage(
                        message=_tl.message(ch, p), pts=e.pts, pts_count=e.pts_count
                    )
                    for p, e in updates
                ],
            )
        return ids

    def _alive_post(self, ch: ChannelModel, msg_id: int) -> Post:
        post = ch.posts.get(msg_id)
        if post is None or post.deleted:
            raise WorldError(f"no message {msg_id} in channel {ch.id}")
        return post

    def edit(
        self,
        ch_id: int | str | ChannelModel,
        msg_id: int,
        new_text: str,
        *,
        media: Any = "keep",
        date: DateLike = None,
        push: bool = True,
    ) -> None:
        """Edit a post's text (and optionally media); pushes UpdateEditChannelMessage."""
        ch = self.channel(ch_id)
        post = self._alive_post(ch, msg_id)
        if post.is_service:
            raise WorldError("service messages cannot be edited")
        post.text = new_text
        post.edit_date = self.now() if date is None else _to_datetime(date)
        if media != "keep":
            post.media = self._make_media(media, post.edit_date)
        event = self._advance_pts(ch, "edit", (msg_id,))
        if push:
            self._push(
                ch,
                lambda _name: [
                    types.UpdateEditChannelMessage(
                        message=_tl.message(ch, post), pts=event.pts, pts_count=1
                    )
                ],
            )

    def delete(
        self, ch_id: int | str | ChannelModel, ids: int | Iterable[int], *, push: bool = True
    ) -> list[int]:
        """Delete messages. ``push=False``: Telegram did not tell anyone (its deletion
        updates are unreliable); the pts still advances. Returns the deleted ids."""
        ch = self.channel(ch_id)
        wanted = [ids] if isinstance(ids, int) else list(ids)
        gone = []
        for mid in wanted:
            post = ch.posts.get(mid)
            if post is not None and not post.deleted:
                post.deleted = True
                gone.append(mid)
        if not gone:
            return []
        event = self._advance_pts(ch, "delete", tuple(gone))
        if push:
            self._push(
                ch,
                lambda _name: [
                    types.UpdateDeleteChannelMessages(
                        channel_id=ch.id,
                        messages=list(gone),
                        pts=event.pts,
                        pts_count=event.pts_count,
                    )
                ],
            )
        return gone

    def set_views(
        self,
        ch_id: int | str | ChannelModel,
        msg_id: int,
        views: int,
        forwards: int | None = None,
        reactions: int | dict[str, int] | None = None,
    ) -> None:
        """Counters change silently (clients poll messages.getMessagesViews)."""
        post = self._alive_post(self.channel(ch_id), msg_id)
        post.views = views
        if forwards is not None:
            post.forwards = forwards
        if reactions is not None:
            post.reactions = _reactions(reactions)

    def set_label(
        self,
        ch_id: int | str | ChannelModel,
        fake: bool | None = None,
        scam: bool | None = None,
        verified: bool | None = None,
    ) -> None:
        ch = self.channel(ch_id)
        before = (ch.fake, ch.scam, ch.verified)
        if fake is not None:
            ch.fake = fake
        if scam is not None:
            ch.scam = scam
        if verified is not None:
            ch.verified = verified
        if before != (ch.fake, ch.scam, ch.verified):
            self._push_channel_update(ch)

    def restrict(self, ch_id: int | str | ChannelModel, platform: str, reason: str, text: str):
        """Add (or replace) a restriction reason; ``restricted`` follows the list."""
        ch = self.channel(ch_id)
        reasons = [r for r in ch.restriction_reasons if (r[0], r[1]) != (platform, reason)]
        reasons.append((platform, reason, text))
        ch.restriction_reasons = reasons
        self._push_channel_update(ch)

    def unrestrict(self, ch_id: int | str | ChannelModel, platform: str | None = None) -> None:
        ch = self.channel(ch_id)
        before = list(ch.restriction_reasons)
        ch.restriction_reasons = [
            r for r in ch.restriction_reasons if platform is not None and r[0] != platform
        ]
        if before != ch.restriction_reasons:
            self._push_channel_update(ch)

    def rename(self, ch_id: int | str | ChannelModel, title: str, *, push: bool = True) -> None:
        """New title: a MessageActionChatEditTitle service message and an UpdateChannel."""
        ch = self.channel(ch_id)
        ch.title = title
        if self.service_messages:
            mid = self._take_id(ch)
            post = Post(id=mid, date=self.now(), action=("edit_title", title))
            ch.posts[mid] = post
            event = self._advance_pts(ch, "new", (mid,))
            if push:
                self._push(
                    ch,
                    lambda _name: [
                        types.UpdateNewChannelMessage(
                            message=_tl.message(ch, post), pts=event.pts, pts_count=1
                        )
                    ],
                )
        if push:
            self._push_channel_update(ch)

    def set_username(self, ch_id: int | str | ChannelModel, username: str | None) -> None:
        """Change the public username; ``None`` makes the channel private."""
        ch = self.channel(ch_id)
        if username is not None:
            self._check_username_free(username, owner=ch)
        if username == ch.username:
            return
        ch.username = username
        self._push_channel_update(ch)

    def make_private(self, ch_id: int | str | ChannelModel) -> None:
        """Drop the username: non-members get CHANNEL_PRIVATE, members keep reading."""
        self.set_username(ch_id, None)

    def make_public(self, ch_id: int | str | ChannelModel, username: str) -> None:
        self.set_username(ch_id, username)

    def set_about(self, ch_id: int | str | ChannelModel, about: str) -> None:
        ch = self.channel(ch_id)
        if about != ch.about:
            ch.about = about
            self._push_channel_update(ch)

    def set_photo(self, ch_id: int | str | ChannelModel, photo_id: int | None) -> None:
        ch = self.channel(ch_id)
        if photo_id != ch.photo_id:
            ch.photo_id = photo_id
            self._push_channel_update(ch)

    def set_participants(self, ch_id: int | str | ChannelModel, n: int) -> None:
        """Subscriber count changes silently (read via channels.getFullChannel)."""
        self.channel(ch_id).participants_count = n

    def set_min_channel_updates(self, ch_id: int | str | ChannelModel, enabled: bool = True):
        """Bundle a ``min=True`` (partial) channel with UpdateChannel pushes."""
        self.channel(ch_id).min_updates = enabled

    def ban(self, ch_id: int | str | ChannelModel, account: str | None = None) -> None:
        """Ban the account (or, with ``None``, every account) from the channel.

        GetChannels then returns ``ChannelForbidden``; reading raises CHANNEL_PRIVATE."""
        ch = self.channel(ch_id)
        affected = [a for a in self._joined_accounts(ch) if account is None or a == account]
        if account is None:
            ch.banned_all = True
        else:
            ch.banned_accounts.add(account)
        self._push(
            ch, lambda name: [types.UpdateChannel(channel_id=ch.id)] if name in affected else []
        )
        for name in affected:
            self.accounts[name].joined.discard(ch.id)

    def delete_channel(self, ch_id: int | str | ChannelModel) -> None:
        """The owner deletes the channel: everything fails, the username is released."""
        ch = self.channel(ch_id)
        if ch.deleted:
            return
        ch.deleted = True
        self._push_channel_update(ch)
        ch.released_username, ch.username = ch.username, None
        for acct in self.accounts.values():
            acct.joined.discard(ch.id)

    def restore(self, ch_id: int | str | ChannelModel) -> None:
        """Undo ``ban`` and ``delete_channel`` (memberships are not restored)."""
        ch = self.channel(ch_id)
        if ch.deleted:
            ch.deleted = False
            name, ch.released_username = ch.released_username, None
            if name and self.find_username(name) is None:
                ch.username = name
        ch.banned_all = False
        ch.banned_accounts.clear()

    def is_banned(self, ch: ChannelModel, account: str) -> bool:
        return ch.banned_all or account in ch.banned_accounts

    # ------------------------------------------------------------------ failure injection

    def flood_wait(
        self,
        request_type_name: str | type,
        seconds: int,
        times: int = 1,
        *,
        account: str | None = None,
    ) -> None:
        """The next ``times`` calls of that request (e.g. "ResolveUsernameRequest")
        fail with FLOOD_WAIT_<seconds>."""
        self.fail(request_type_name, f"FLOOD_WAIT_{int(seconds)}", 420, times, account=account)

    def fail(
        self,
        request_type_name: str | type,
        message: str,
        code: int = 400,
        times: int = 1,
        *,
        account: str | None = None,
    ) -> None:
        """The next ``times`` calls of that request fail with ``code``/``message``
        (e.g. ``fail("GetHistoryRequest", "RPC_CALL_FAIL", 500)``)."""
        name = _request_name(request_type_name)
        self._injections.append(_Injection(name, code, message, times, account))

    def rate_limit(
        self,
        request_type_name: str | type,
        calls: int,
        per: float,
        *,
        account: str | None = None,
    ) -> None:
        """Natural flood control: more than ``calls`` calls per ``per`` seconds (world
        clock, per account) fail with FLOOD_WAIT_<seconds until the window frees>."""
        name = _request_name(request_type_name)
        self._rate_limits.append(_RateLimit(name, calls, per, account))

    def clear_injections(self) -> None:
        self._injections.clear()
        self._rate_limits.clear()

    def _check_injected(self, account: str, name: str) -> None:
        for inj in self._injections:
            if inj.name == name and inj.times > 0 and inj.account in (None, account):
                inj.times -= 1
                if inj.times == 0:
                    self._injections.remove(inj)
                raise RpcFail(inj.code, inj.message)
        now = self.time()
        for rl in self._rate_limits:
            if rl.name != name or rl.account not in (None, account):
                continue
            hits = [t for t in rl.hits.get(account, []) if t > now - rl.per]
            if len(hits) >= rl.calls:
                rl.hits[account] = hits
                wait = max(1, int(hits[0] + rl.per - now + 0.999))
                raise RpcFail(420, f"FLOOD_WAIT_{wait}")
            hits.append(now)
            rl.hits[account] = hits

    # ------------------------------------------------------------------ requests log

    def _log_request(self, account: str, name: str, request: Any) -> None:
        ts = self.time()
        self.requests_log.append((ts, name))
        self.request_records.append(RequestRecord(ts, name, account, request))

    def count_requests(self, name: str | type, account: str | None = None) -> int:
        name = _request_name(name)
        return sum(
            1
            for r in self.request_records
            if r.name == name and (account is None or r.account == account)
        )

    def get_requests_log(self) -> list[tuple[float, str]]:
        return list(self.requests_log)

    def clear_requests_log(self) -> None:
        self.requests_log.clear()
        self.request_records.clear()

    # ------------------------------------------------------------------ introspection

    def describe(self, ch_id: int | str | ChannelModel) -> dict[str, Any]:
        return self.channel(ch_id).to_json()

    def channel_posts(self, ch_id: int | str | ChannelModel) -> list[dict[str, Any]]:
        ch = self.channel(ch_id)
        return [
            {
                "id": p.id,
                "text": p.text,
                "date": p.date.isoformat(),
                "edit_date": p.edit_date.isoformat() if p.edit_date else None,
                "deleted": p.deleted,
                "service": p.action[0] if p.action else None,
                "media": p.media.kind if p.media else None,
                "views": p.views,
            }
            for p in sorted(ch.posts.values(), key=lambda p: p.id)
        ]

    # ------------------------------------------------------------------ requests

    def dispatch(self, conn: WorldConnection, data: bytes):
        """Answer one serialized TL request from ``conn`` (see handlers.py)."""
        from .handlers import dispatch

        return dispatch(self, conn, data)


def _reactions(value: int | dict[str, int] | None) -> dict[str, int]:
    if not value:
        return {}
    if isinstance(value, int):
        return {"👍": value}
    return {str(k): int(v) for k, v in value.items() if int(v) > 0}


def _request_name(value: str | type) -> str:
    if isinstance(value, type):
        return value.__name__
    return value
