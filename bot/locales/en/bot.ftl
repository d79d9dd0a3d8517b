# chanwatch — English catalog of the bot's conversation (commands, buttons, errors).
#
# Values are inserted verbatim and are already HTML-escaped by the caller
# ($channel is a ready HTML link). Do not put <, > or a bare & into the text.

## Command menu

cmd-start = Start or restart the bot
cmd-help = What the bot can do
cmd-channels = Watched channels, follow or unfollow
cmd-subscribe = Follow a channel: /subscribe @name
cmd-unsubscribe = Stop following a channel
cmd-kinds = Which events alert you for a channel
cmd-filters = Keyword filters for a channel
cmd-mute = Pause alerts for a while
cmd-unmute = Resume alerts
cmd-digest = Weekly digest: now, on or off
cmd-lang = Language
cmd-settings = Your settings
cmd-target = Post alerts in a channel you run: /target @channel
cmd-topic = In a forum group: this topic gets a channel's alerts
cmd-stop = Leave and delete your data
cmd-watch = Moderators: watch a channel
cmd-unwatch = Moderators: stop watching a channel
cmd-watched = Moderators: the watch list
cmd-status = Moderators: collector and delivery health
cmd-events = Moderators: recent events of a channel
cmd-mod = Moderators: add or remove a moderator
cmd-ban = Moderators: ban a user
cmd-unban = Moderators: lift a ban
cmd-broadcast = Moderators: message every subscriber
cmd-audit = Moderators: the audit log
cmd-digest_run = Moderators: send the weekly digest now

## Everyone

start-welcome = Hello, { $name }! I watch public Telegram channels and tell you what happens to them: new posts, edits, deletions, and what Telegram does to the channel itself — a FAKE or SCAM label, a restriction, a new name, or the channel vanishing.
    Tap “Channels” below to choose what to follow, or send /help.
start-again = Welcome back, { $name }! Your subscriptions are as you left them. Send /help for the commands.

help-subscriber = What I can do:
    /channels — watched channels; tap one to follow or unfollow it
    /subscribe @name — follow a channel; /unsubscribe @name — stop
    /kinds @name — choose which events alert you: new posts, edits, deletions, channel changes
    /filters @name word, “a phrase” — alert only for posts with these words (a trailing * matches word beginnings); /filters @name shows them, /filters @name - removes them
    /mute 1h, 8h, 1d, 7d or a number of hours — pause alerts; /unmute — resume
    /digest — your weekly digest right now; /digest on or /digest off
    /lang — language; /settings — everything at a glance
    /target @yourchannel — post alerts in a channel you run; /target lists, /target remove @yourchannel unlinks. Name it first to set its rules: /subscribe @yourchannel @name, /filters @yourchannel @name words, /lang @yourchannel ru, /digest @yourchannel on
    /stop — leave and delete your data
help-moderator = For moderators:
    /watch @name — watch a channel; /unwatch @name — stop watching (the archive stays)
    /watched — the watch list with labels, reachability and checks
    /status — collector, outbox and digest health
    /events @name — recent events of a channel
    /pack @name — the channel's proof pack: signed observations, checkable offline
    /mod add ID, /mod remove ID — moderators; /ban ID, /unban ID — bans
    /broadcast text — message every subscriber (with a preview)
    /audit — who did what; /digest_run — send the weekly digest now

throttled = You are sending messages too fast. Wait a few seconds and try again.
banned = You are banned from this bot.
mod-only = This command is for moderators only.
error-generic = Something went wrong on my side. Please try again later.
error-busy = I am having trouble reaching my database. Please try again in a minute.
unknown-command = I do not know the command { $command }. Send /help for the list.
unknown-text = I understand commands only. Send /help to see them.
stale-button = This button is out of date. Send the command again.
time-never = never

## Language

lang-name = English
lang-choose = Choose your language:
lang-set = Done: I will speak English with you.
lang-unknown = I do not speak “{ $code }”. Available: { $languages }.

## Settings

settings-header = Your settings
settings-language = Language: { $language }
settings-digest = Weekly digest: { $state ->
    [on] on
   *[off] off
}
settings-muted = Alerts are muted until { $until }.
settings-not-muted = Alerts are on.
settings-no-subscriptions = You do not follow any channel yet: see /channels.
settings-subscriptions = { $count ->
    [one] You follow { $count } channel:
   *[other] You follow { $count } channels:
}
settings-subscription = • { $channel } — { $kinds }; filters: { $filters }
settings-actions = Weekly digest: { $state ->
    [on] on
   *[off] off
}. What would you like to change?
kinds-none = nothing
filters-all = none, every post

## Leaving

stop-nothing = There is nothing stored about you. Send /start to begin.
stop-confirm = Leave chanwatch? Your subscriptions, filters and settings will be deleted and you will receive nothing more from me.
stop-cancelled = Good, nothing was deleted.
stop-done = Your data is deleted. Goodbye! Send /start if you ever want to come back.
stop-linked = { $count ->
    [one] The channel you linked, { $channels }, keeps getting its own alerts. To stop them, unlink it: /target remove { $first }
   *[other] The channels you linked, { $channels }, keep getting their own alerts. To stop one, unlink it: /target remove { $first }
}
stop-target = { $channel } keeps getting its alerts until you unlink it: /target remove { $channel }. /stop alone stops the alerts of this chat.

## Buttons

kb-yes = Yes
kb-cancel = Cancel
kb-stop-yes = Yes, delete my data
kb-channels = 📋 Channels
kb-language = 🌐 Language
kb-digest-turn-on = Turn the weekly digest on
kb-digest-turn-off = Turn the weekly digest off
kb-subscribe = ➕ { $title }
kb-subscribed = ✅ { $title }
kb-kinds = ⚙️ Events
kb-prev = ◀️ Back
kb-next = More ▶️
kb-page = { $page } / { $total }
kb-kind-on = ✅ { $name }
kb-kind-off = ⬜ { $name }
kb-done = Done
kb-mute-1h = 1 hour
kb-mute-8h = 8 hours
kb-mute-1d = 1 day
kb-mute-7d = 7 days
kb-unwatch = 🗑 { $title }
kb-unwatch-yes = Yes, stop watching
kb-broadcast-yes = Send to everyone
kb-digest-run-yes = Yes, send it now

## Channels and subscriptions

kind-name = { $group ->
    [posts] New posts
    [edits] Edits
    [deletions] Deletions
   *[channel] Channel changes and labels
}
channels-none = No channels are watched yet.
channels-header = { $count ->
    [one] { $count } watched channel. Tap one to follow it or to stop following it (✅ means you follow it).
   *[other] { $count } watched channels. Tap one to follow it or to stop following it (✅ means you follow it).
}
channels-header-named = Watched channels: { $count }. ✅ marks those this channel follows; to change that, name it first: /subscribe @yourchannel @name, /unsubscribe @yourchannel @name.
channels-line = { $followed ->
    [yes] ✅
   *[no] •
} { $channel } — { $state }
channels-line-labels = { $followed ->
    [yes] ✅
   *[no] •
} { $channel } — { $labels } — { $state }
channel-reachable = reachable
channel-unreachable = { $reason ->
    [private] private now
    [banned] blocked by Telegram
    [deleted] deleted
    [private_or_deleted] private or deleted
    [username_released] username no longer leads to it
   *[other] cannot be reached
}
sub-added = You follow this channel now.
sub-removed = You no longer follow this channel.
stale-channel = This channel is no longer watched.
stale-subscription = You no longer follow this channel.
handle-error = { $code ->
    [empty] Name a channel, for example @durov or https://t.me/durov.
    [private_link] “{ $text }” is an invite link to a private chat; I can only watch public channels.
    [not_channel] “{ $text }” is not a channel.
   *[invalid] “{ $text }” is not a channel name. Use @name or a t.me link.
}
channel-not-watched = { $channel } is not on the watch list. See /channels for the channels you can follow.
channel-unknown = I know no channel { $channel }.
sub-added-cmd = You follow { $channel } now. Choose alerts with /kinds and keyword filters with /filters.
sub-already = You already follow { $channel }.
unsub-done = You no longer follow { $channel }.
not-subscribed = You do not follow { $channel }.

kinds-usage = Send /kinds @name to choose which events of that channel alert you.
kinds-header = Which events of { $channel } should alert you?
kinds-at-least-one = Keep at least one kind. To stop all alerts, unfollow the channel.
kinds-saved = Saved. { $channel } alerts you about: { $kinds }.
kinds-show = { $channel } alerts about: { $kinds }.
kinds-by-words = To change them, name the kinds after the channel, from: posts, edits, deletions, channel (its changes and labels). For example: /kinds @yourchannel @name posts edits
kinds-unknown = “{ $word }” is not a kind of event. Name some of: posts, edits, deletions, channel.

filters-usage = Keyword filters: /filters @name word, “a phrase” — alerts about posts then come only when a post contains one of them. A trailing * matches word beginnings. Up to { $max } filters, each up to { $length } characters. /filters @name shows them, /filters @name - removes them.
filters-show = Filters of { $channel }: { $keywords }
filters-none = { $channel } has no filters: every post alerts you.
filters-bad-keyword = “{ $keyword }” cannot be a filter: it must have 1 to { $length } characters.
filters-too-many = That is too many filters: at most { $max } per channel.
filters-set = Filters of { $channel } are now: { $keywords }
filters-cleared = Filters of { $channel } removed: every post alerts you.

## Mute and digest

mute-usage = For how long? Send /mute 1h, 8h, 1d or 7d (or a number of hours), or tap:
mute-invalid = “{ $value }” is not a period. Use 1h, 8h, 1d, 7d or a number of hours, at most a year.
mute-set = Alerts are muted until { $until }. Send /unmute to resume them earlier.
unmute-not-muted = Alerts are not muted.
unmute-done = Alerts are on again.
digest-on = The weekly digest is on.
digest-off = The weekly digest is off.
digest-usage = Send /digest for your digest now, or /digest on or /digest off.
digest-unavailable = The digest is not available right now. Please try again later.
digest-queued = Your digest for the last 7 days is on its way.
digest-empty = There is nothing to send right now: follow some channels first, or wait a minute if you have just asked.

## Moderators: watch list

watch-usage = Send /watch @name or /watch https://t.me/name to watch a channel.
watch-requested = Looking up { $handle }…
watch-queued = { $handle } is queued; the collector has not answered yet. Check /watched in a while.
watch-result = { $code ->
    [added] Now watching { $channel }.
    [already] { $channel } is already watched.
    [not_found] { $channel } does not exist.
    [is_user] { $channel } is a user, not a channel.
    [is_bot] { $channel } is a bot, not a channel.
    [is_group] { $channel } is a group, not a channel.
    [private] { $channel } is private; I can only watch public channels.
    [not_channel] { $channel } is not a channel.
    [unknown_id] I cannot find a channel with the id { $channel }; use its @name.
    [invalid] { $channel } is not a valid channel name.
    [no_posts] { $channel } shows no public posts on t.me, so without a Telegram account I cannot tell which channel it is.
    [unreachable] I could not read t.me just now; try again in a while.
   *[other] Could not watch { $channel }.
}
watched-none = No channels are watched.
unwatch-choose = Which channel should I stop watching?
unwatch-not-watched = { $channel } is not on the watch list.
unwatch-confirm = Stop watching { $channel }? Its archive and events stay.
unwatch-cancelled = Cancelled; the channel is still watched.
unwatch-done = Stopped watching { $channel }. Its archive stays.

watched-header = { $count ->
    [one] { $count } watched channel:
   *[other] { $count } watched channels:
}
watched-title = • { $channel }
watched-title-labels = • { $channel } — { $labels }
watched-post = #{ $id } at { $time }
watched-no-post = none yet
watched-details = { $state } · last post: { $post } · checked: { $checked }{ $retries ->
    [0] {""}
   *[other] {" "}· failed checks: { $retries }
}
flood-none = No flood waits.
flood-item = { $request } { $seconds } s
flood-waits = Flood waits: { $waits }

## Moderators: health

status-header = chanwatch status
status-collector-unknown = Collector: has not reported yet.
status-collector = Collector { $name }: { $state ->
    [connected] connected
   *[disconnected] disconnected
} (reported { $updated })
status-webpreview = Web preview { $name }: { $requests } requests, { $errors } unread pages, next request in { $backoff } s (reported { $updated })
status-lag = Polling lag: { $seconds } s
status-collector-row = { $kind ->
    [web] Web collector
   *[account] Account
} { $name }: { $channels } channels, { $joined } joined, heartbeat { $age } s ago{ $alive ->
    [yes] {""}
   *[no] {" "}(not alive: its channels are taken over)
}{ $limited ->
    [none] {""}
   *[other] , limited until { $limited } ({ $reason })
}
status-lag-unknown = Polling lag: unknown
status-unreadable = ⚠️ Channels this account cannot read ({ $count }): { $channels }: no access hash, and no username that resolves. /watch them again by a public link.
status-outbox = Outbox: { $pending } waiting, { $sending } being sent, { $failed } failed
status-sends = Sent in the last minute: { $count }
status-media = Media: { $stored } files stored ({ $size }), { $pending } waiting, { $too_large } over the size limit (thumbnail kept), { $lost } lost, { $failed } failed
status-media-full = ⚠️ The media store is full: new downloads wait.
notice-media-nearly-full = ⚠️ The chanwatch media store is 90 % full ({ $used }). Raise MEDIA_MAX_TOTAL_GB or add space: at 100 % new downloads stop (nothing archived is deleted).
status-digest-none = Last digest: none yet
status-digest-running = Digest { $period }: running since { $started }
status-digest = Last digest: { $period }, completed { $completed }, { $count } subscribers
status-counts = Watched channels: { $channels }; subscribers: { $subscribers }

events-usage = Send /events @name, optionally with how many (up to { $max }).
events-none = No events of { $channel } yet.
events-header = Recent events of { $channel } ({ $count }):
events-line = { $time } · { $text }

## Moderators: people

mod-list = Moderators from the configuration: { $configured }
    Granted in the bot: { $granted }
    /mod add ID or /mod remove ID to change.
mod-usage = Send /mod add ID or /mod remove ID (a numeric Telegram user id).
mod-configured = { $user } is a moderator by configuration; remove them there.
mod-added = { $user } is a moderator now.
mod-already = { $user } already is a moderator.
mod-removed = { $user } is no longer a moderator.
mod-not = { $user } is not a moderator granted in the bot.
ban-usage = Send /ban ID (a numeric Telegram user id).
ban-self = You cannot ban yourself.
ban-configured = { $user } is a moderator by configuration and cannot be banned.
ban-done = { $user } is banned.
ban-already = { $user } already is banned.
unban-usage = Send /unban ID (a numeric Telegram user id).
unban-done = { $user } is no longer banned.
unban-not = { $user } is not banned.

## Moderators: broadcast, audit, digest

broadcast-usage = Send /broadcast followed by the text. You will see a preview first.
broadcast-preview = { $count ->
    [one] Preview. Send this to { $count } subscriber?
   *[other] Preview. Send this to { $count } subscribers?
}
broadcast-already = This broadcast was already decided.
broadcast-cancelled = Broadcast cancelled.
broadcast-sent = { $count ->
    [one] The broadcast is queued for { $count } subscriber.
   *[other] The broadcast is queued for { $count } subscribers.
}

audit-usage = Send /audit, optionally with how many entries (up to { $max }).
audit-none = The audit log is empty.
audit-header = Audit log, latest { $count }:
audit-line = { $time } · { $actor } · { $action ->
    [watch] watch
    [unwatch] unwatch
    [mod_add] moderator added
    [mod_remove] moderator removed
    [ban] ban
    [unban] unban
    [broadcast_preview] broadcast drafted
    [broadcast_send] broadcast sent
    [broadcast_cancel] broadcast cancelled
    [digest_run] digest run
   *[other] { $action }
} { $target }

digest-run-confirm = Send the weekly digest to every subscriber now?
digest-run-cancelled = Digest run cancelled.
digest-run-started = Building the digests…
digest-run-done = { $count ->
    [one] Digest queued for { $count } subscriber.
   *[other] Digests queued for { $count } subscribers.
}

cmd-pack = Moderators: a channel's proof pack (ZIP)
status-key = Signing key: { $fingerprint }
pack-usage = Send /pack @name for the channel's proof pack: its observations, signed and verifiable offline.
pack-caption = Proof pack: { $records } records, { $media } media files. Check it with: python verify.py
pack-too-big = The pack is { $size } MB, above the bot's 50 MB upload limit. Make it on the server: { $command }

## Groups, forum topics and channels

group-start = In this group I post alerts about the public channels it follows. Its admins choose them with the same commands as in a private chat: /subscribe @name, /kinds @name, /filters @name, /mute, /lang, /digest, /settings. In a forum an admin sends /topic @name inside a topic to get that channel's alerts there.
group-added = Thank you for adding me. This group's admins choose what I post here: /subscribe @name, or /help for every command.
group-admins-only = Only this group's admins can change what I post here.
topic-usage = Send /topic @name inside a forum topic: that channel's alerts will go to the topic. Sent in General, it puts them back in General.
topic-not-forum = Topics exist only in a forum supergroup.
topic-set = Alerts from { $channel } now go to this topic.
topic-cleared = Alerts from { $channel } now go to General.
target-usage = /target @yourchannel links a channel you run (I must be its admin allowed to post); /target lists the links; /target remove @yourchannel removes one.
target-none = You have linked no channel. Send /target @yourchannel.
target-header = Your channels ({ $count }):
target-line = { $channel } — { $title }: { $count } subscriptions{ $state ->
    [gone] , I can no longer post there
   *[ok] {""}
}
target-not-found = Telegram knows no public chat { $channel }.
target-not-channel = { $channel } is not a channel. Add me to a group instead: its admins manage it there.
target-not-admin = Only an admin of { $channel } can do this.
target-bot-cannot-post = Make me an admin of { $channel } with the right to post messages, then send /target again.
target-linked = { $channel } is linked. Its alerts follow its own rules: name it first, e.g. /subscribe { $channel } @name, /filters { $channel } @name words, /kinds { $channel } @name posts edits, /lang { $channel } ru, /digest { $channel } off.
target-already = { $channel } was linked already.
target-unknown = { $channel } is not a linked channel.
target-removed = { $channel } is unlinked: nothing more goes there, and its settings are deleted.
