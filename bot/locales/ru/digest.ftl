# chanwatch — русский каталог: еженедельная сводка (bot/digest).
#
# Ключи начинаются с "dg-". Значения подставляются как есть и экранируются
# вызывающим кодом; не используйте в тексте <, > и одиночный & (это HTML).
# Сводка использует и формулировки оповещений из chanwatch.ftl (ev-*, post-link*).

dg-title = 📰 Сводка за неделю · { $period }
dg-title-now = 📰 Ваша сводка за последние 7 дней · { $period }
dg-empty = { $title }: тихая неделя, { $count ->
    [1] в вашем канале нет ни постов, ни изменений.
   *[other] в ваших каналах ({ $count }) нет ни постов, ни изменений.
}
dg-timezone = Время: { $tz }

dg-count-channels = { $count ->
    [one] { $count } канал
    [few] { $count } канала
    [many] { $count } каналов
   *[other] { $count } канала
}
dg-count-posts = { $count ->
    [one] { $count } пост
    [few] { $count } поста
    [many] { $count } постов
   *[other] { $count } поста
}
dg-count-deleted = удалено: { $count }
dg-count-edited = изменено: { $count }
dg-count-events = { $count ->
    [0] событий канала нет
    [one] { $count } событие канала
    [few] { $count } события канала
    [many] { $count } событий канала
   *[other] { $count } события канала
}

## Разделы

dg-section-events = ⚠️ Что случилось с каналами
dg-events-none = На этой неделе метки, ограничения, названия, адреса и доступность каналов не менялись.
dg-section-channels = 📊 Каналы
dg-subscribers = 👥 { $before } → { $after } ({ $sign }{ $diff }, { $sign }{ NUMBER($pct, maximumFractionDigits: 1) } %)
dg-subscribers-flat = 👥 { $after } (без изменений)
dg-subscribers-unknown = 👥 число подписчиков пока неизвестно
dg-section-top-views = 👁 Самые просматриваемые посты
dg-section-top-forwards = 🔁 Самые пересылаемые посты
dg-views = { $count ->
    [one] { $count } просмотр
    [few] { $count } просмотра
    [many] { $count } просмотров
   *[other] { $count } просмотра
}
dg-forwards = { $count ->
    [one] { $count } пересылка
    [few] { $count } пересылки
    [many] { $count } пересылок
   *[other] { $count } пересылки
}
dg-post-no-text = Пост №{ $id }
dg-section-deleted = 🗑 Удалённые посты ({ $count })
dg-deleted-when = удалён { $deleted } · опубликован { $published }
dg-deleted-more = { $count ->
    [one] …и ещё { $count } удалённый пост
    [few] …и ещё { $count } удалённых поста
    [many] …и ещё { $count } удалённых постов
   *[other] …и ещё { $count } удалённого поста
}
dg-section-edits = ✏️ Заметные правки
dg-edited-at = изменён { $when }
dg-edits-more = { $count ->
    [one] …и ещё { $count } правка
    [few] …и ещё { $count } правки
    [many] …и ещё { $count } правок
   *[other] …и ещё { $count } правки
}

## График

dg-chart-title = Подписчики · { $period }
dg-chart-caption = 📈 Подписчики · { $period }
dg-chart-more = { $count ->
    [one] …и ещё { $count } канал
    [few] …и ещё { $count } канала
    [many] …и ещё { $count } каналов
   *[other] …и ещё { $count } канала
}
