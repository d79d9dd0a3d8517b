# chanwatch — English catalog.
#
# Keys: "ev-<event kind, dots as dashes>[-detail]" for alert lines,
# "label-*" / "platform" / "restriction-reason" for Telegram's labels,
# "media" / "media-album" for attachments, "post-*" for post links,
# "common-*" for shared bits.
#
# Values are inserted verbatim and are already HTML-escaped by the caller.
# Do not put <, > or a bare & into the text: these messages are sent as HTML.

## Shared

common-empty = (empty)
common-continued = { $channel } · continued ({ $part }/{ $total })

## Posts

post-link = Open the post
post-link-deleted = Post #{ $id } (no longer available)

media = { $kind ->
    [photo] 📷 Photo
    [video] 🎬 Video
    [document] 📄 File
    [album] 🖼 Album
    [audio] 🎵 Audio
    [voice] 🎙 Voice message
    [round] 📹 Video message
    [gif] 🎞 GIF
    [sticker] 🏷 Sticker
    [poll] 📊 Poll
    [webpage] 🔗 Link preview
    [location] 📍 Location
    [contact] 👤 Contact
    [dice] 🎲 Dice
    [game] 🎮 Game
    [invoice] 🧾 Invoice
    [story] 📖 Story
    [giveaway] 🎁 Giveaway
    [paidmedia] ⭐ Paid media
   *[other] 📎 Attachment
}
media-size = { $unit ->
    [kb] { NUMBER($value, maximumFractionDigits: 0) } KB
    [mb] { NUMBER($value, maximumFractionDigits: 1) } MB
   *[gb] { NUMBER($value, maximumFractionDigits: 2) } GB
}
media-forwarded = ↪️ Forwarded from { $source }
media-album = { $count ->
    [one] 🖼 Album of { $count } item
   *[other] 🖼 Album of { $count } items
}

ev-post-new = 🆕 New post in { $channel }
ev-post-edited = ✏️ Post edited in { $channel }
ev-post-edited-at = Edited { DATETIME($date, dateStyle: "medium", timeStyle: "short") } UTC
ev-post-edited-same-text = The text did not change (media or formatting was edited).
ev-post-edited-what = Changed: { $what }
edit-text = text
edit-formatting = formatting only
edit-links = link target
edit-media_added = media added ({ $media })
edit-media_removed = media removed ({ $media })
edit-media_replaced = { $media } replaced
edit-poll = poll
ev-post-edited-link = 🔗 { $before } → { $after }
ev-post-edited-no-link = (none)
ev-post-deleted = 🗑 Post deleted in { $channel }
ev-post-deleted-date = Published { DATETIME($date, dateStyle: "medium", timeStyle: "short") } UTC
ev-post-deleted-mass = (one of { $count } posts deleted at once)
ev-post-deleted-no-text = The post had no text.
ev-post-deleted-archived = Archived text:

## Labels

label-fake = FAKE
label-scam = SCAM
label-verified = verified
label-restricted = restriction on { platform } ({ restriction-reason })
label-other = label “{ $label }”

platform = { $platform ->
    [all] all platforms
    [android] Android
    [ios] iOS
    [wp] Windows Phone
    [web] the web
    [desktop] desktop
    [macos] macOS
   *[other] { $platform }
}

restriction-reason = { $reason ->
    [unspecified] reason not given
    [porn] pornography
    [copyright] copyright
    [terms] terms of service violation
    [sensitive] sensitive content
    [spam] spam
    [violence] violence
    [childabuse] child abuse
    [fake] fake
    [scam] scam
   *[other] { $reason }
}

ev-label-added = { $label ->
    [fake] ⚠️ Telegram marked { $channel } as FAKE
    [scam] ⚠️ Telegram marked { $channel } as SCAM
    [verified] ☑️ Telegram verified { $channel }
   *[other] 🏷 Telegram gave { $channel } the { $name }
}
ev-label-removed = { $label ->
    [fake] ✅ Telegram removed the FAKE label from { $channel }
    [scam] ✅ Telegram removed the SCAM label from { $channel }
    [verified] ❕ Telegram took the verification away from { $channel }
   *[other] 🏷 Telegram took the { $name } away from { $channel }
}
ev-label-restricted-added = 🚫 Telegram restricted { $channel } on { platform } ({ restriction-reason })
ev-label-restricted-removed = ✅ Telegram lifted the restriction of { $channel } on { platform } ({ restriction-reason })
ev-label-restriction-text = Telegram’s notice:

## Channel

ev-channel-renamed = ✏️ Channel renamed: “{ $before }” → “{ $after }”
ev-channel-renamed-link = Channel: { $channel }
ev-channel-username-changed = 🔗 { $channel } changed its username: @{ $before } → @{ $after }
ev-channel-username-set = 🔗 { $channel } got a public username: @{ $after }
ev-channel-username-removed = 🔗 { $channel } dropped its public username @{ $before }
ev-channel-about-changed = 📝 { $channel } changed its description
ev-channel-photo-changed = { $change ->
    [added] 🖼 { $channel } set a channel photo
    [removed] 🖼 { $channel } removed its channel photo
   *[replaced] 🖼 { $channel } changed its channel photo
}
ev-channel-unavailable = { $reason ->
    [private] 🔒 { $channel } became private
    [banned] ⛔ Telegram blocked { $channel }
    [deleted] 🗑 { $channel } was deleted
    [private_or_deleted] 🔒 { $channel } became private or was deleted (Telegram answers both alike)
    [username_released] ❓ The username of { $channel } no longer leads to it
   *[other] ❓ { $channel } cannot be reached
}
ev-channel-unavailable-name = Its name @{ $username } is free now: whatever it leads to is not this channel.
ev-channel-unavailable-archive = Its posts seen so far stay in the archive.
ev-channel-available = ✅ { $channel } can be reached again
ev-channel-preview-withheld = 🙈 Telegram withholds the public web preview of { $channel }
ev-channel-preview-restored = 👁 The public web preview of { $channel } is shown again
ev-channel-subscribers-jump = { $direction ->
    [down] 📉 Subscribers of { $channel }: { $before } → { $after } ({ $sign }{ NUMBER($pct, maximumFractionDigits: 1) }%) in { NUMBER($hours, maximumFractionDigits: 1) } h
   *[up] 📈 Subscribers of { $channel }: { $before } → { $after } ({ $sign }{ NUMBER($pct, maximumFractionDigits: 1) }%) in { NUMBER($hours, maximumFractionDigits: 1) } h
}

## Moderators

ev-broadcast = 📣 Message from the chanwatch moderators
ev-broadcast-channel = About { $channel }
ev-unknown = ℹ️ { $channel }: { $kind }
