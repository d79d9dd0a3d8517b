"""Event kinds and the groups a subscriber chooses between."""

from __future__ import annotations

POST_NEW = "post.new"
POST_EDITED = "post.edited"
POST_DELETED = "post.deleted"
LABEL_ADDED = "channel.label_added"
LABEL_REMOVED = "channel.label_removed"
RENAMED = "channel.renamed"
USERNAME_CHANGED = "channel.username_changed"
ABOUT_CHANGED = "channel.about_changed"
PHOTO_CHANGED = "channel.photo_changed"
UNAVAILABLE = "channel.unavailable"
AVAILABLE = "channel.available"
SUBSCRIBERS_JUMP = "channel.subscribers_jump"
# Not a channel event: a moderator's message to every subscriber, rendered like one.
BROADCAST = "broadcast"
PREVIEW_WITHHELD = "channel.preview_withheld"
PREVIEW_RESTORED = "channel.preview_restored"

# What a subscriber picks; "channel" is what happens to the channel itself.
GROUPS: dict[str, tuple[str, ...]] = {
    "posts": (POST_NEW,),
    "edits": (POST_EDITED,),
    "deletions": (POST_DELETED,),
    "channel": (
        LABEL_ADDED,
        LABEL_REMOVED,
        RENAMED,
        USERNAME_CHANGED,
        ABOUT_CHANGED,
        PHOTO_CHANGED,
        UNAVAILABLE,
        AVAILABLE,
        SUBSCRIBERS_JUMP,
        PREVIEW_WITHHELD,
        PREVIEW_RESTORED,
    ),
}
DEFAULT_GROUPS = ("posts", "edits", "deletions", "channel")
CHANNEL_KINDS = GROUPS["channel"]
