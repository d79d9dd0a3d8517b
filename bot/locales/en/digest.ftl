# chanwatch — English catalog: the weekly digest (bot/digest).
#
# Keys start with "dg-". Values are inserted verbatim and are escaped by the
# caller; do not put <, > or a bare & into the text (these go out as HTML).
# The digest also uses some alert wording from chanwatch.ftl (ev-*, post-link*).

dg-title = 📰 Weekly digest · { $period }
dg-title-now = 📰 Your digest for the last 7 days · { $period }
dg-empty = { $title }: a quiet week, no posts and no changes in { $count ->
    [1] the channel you follow.
   *[other] the { $count } channels you follow.
}
dg-timezone = Times in { $tz }

dg-count-channels = { $count ->
    [one] { $count } channel
   *[other] { $count } channels
}
dg-count-posts = { $count ->
    [one] { $count } post
   *[other] { $count } posts
}
dg-count-deleted = { $count } deleted
dg-count-edited = { $count } edited
dg-count-events = { $count ->
    [0] no channel events
    [one] { $count } channel event
   *[other] { $count } channel events
}

## Sections

dg-section-events = ⚠️ What happened to the channels
dg-events-none = No label, restriction, name, address or reachability changes this week.
dg-section-channels = 📊 Channels
dg-subscribers = 👥 { $before } → { $after } ({ $sign }{ $diff }, { $sign }{ NUMBER($pct, maximumFractionDigits: 1) }%)
dg-subscribers-flat = 👥 { $after } (no change)
dg-subscribers-unknown = 👥 no subscriber count yet
dg-section-top-views = 👁 Top posts by views
dg-section-top-forwards = 🔁 Top posts by forwards
dg-views = { $count ->
    [one] { $count } view
   *[other] { $count } views
}
dg-forwards = { $count ->
    [one] { $count } forward
   *[other] { $count } forwards
}
dg-post-no-text = Post #{ $id }
dg-section-deleted = 🗑 Deleted posts ({ $count })
dg-deleted-when = deleted { $deleted } · published { $published }
dg-deleted-more = { $count ->
    [one] …and { $count } more deleted post
   *[other] …and { $count } more deleted posts
}
dg-section-edits = ✏️ Notable edits
dg-edited-at = edited { $when }
dg-edits-more = { $count ->
    [one] …and { $count } more edit
   *[other] …and { $count } more edits
}

## Chart

dg-chart-title = Subscribers · { $period }
dg-chart-caption = 📈 Subscribers · { $period }
dg-chart-more = { $count ->
    [one] …and { $count } more channel
   *[other] …and { $count } more channels
}
