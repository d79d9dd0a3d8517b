# chanwatch — русский каталог.
#
# Ключи: "ev-<вид события, точки заменены дефисами>[-уточнение]" для строк
# оповещений, "label-*" / "platform" / "restriction-reason" для меток Telegram,
# "media" / "media-album" для вложений, "post-*" для ссылок на посты,
# "common-*" для общих фрагментов.
#
# Значения подставляются как есть и уже экранированы для HTML вызывающим кодом.
# Не используйте в тексте <, > и одиночный &: сообщения отправляются как HTML.

## Общее

common-empty = (пусто)
common-continued = { $channel } · продолжение ({ $part }/{ $total })

## Посты

post-link = Открыть пост
post-link-deleted = Пост №{ $id } (больше недоступен)

media = { $kind ->
    [photo] 📷 Фото
    [video] 🎬 Видео
    [document] 📄 Файл
    [album] 🖼 Альбом
    [audio] 🎵 Аудио
    [voice] 🎙 Голосовое сообщение
    [round] 📹 Видеосообщение
    [gif] 🎞 GIF
    [sticker] 🏷 Стикер
    [poll] 📊 Опрос
    [webpage] 🔗 Превью ссылки
    [location] 📍 Геопозиция
    [contact] 👤 Контакт
    [dice] 🎲 Кубик
    [game] 🎮 Игра
    [invoice] 🧾 Счёт
    [story] 📖 История
    [giveaway] 🎁 Розыгрыш
    [paidmedia] ⭐ Платный контент
   *[other] 📎 Вложение
}
media-size = { $unit ->
    [kb] { NUMBER($value, maximumFractionDigits: 0) } КБ
    [mb] { NUMBER($value, maximumFractionDigits: 1) } МБ
   *[gb] { NUMBER($value, maximumFractionDigits: 2) } ГБ
}
media-forwarded = ↪️ Переслано из { $source }
media-album = { $count ->
    [one] 🖼 Альбом: { $count } файл
    [few] 🖼 Альбом: { $count } файла
    [many] 🖼 Альбом: { $count } файлов
   *[other] 🖼 Альбом: { $count } файла
}

ev-post-new = 🆕 Новый пост в канале { $channel }
ev-post-edited = ✏️ Пост изменён в канале { $channel }
ev-post-edited-at = Изменён { DATETIME($date, dateStyle: "medium", timeStyle: "short") } UTC
ev-post-edited-same-text = Текст не изменился (изменены медиа или оформление).
ev-post-edited-what = Изменено: { $what }
edit-text = текст
edit-formatting = только оформление
edit-links = адрес ссылки
edit-media_added = добавлено медиа ({ $media })
edit-media_removed = удалено медиа ({ $media })
edit-media_replaced = заменено: { $media }
edit-poll = опрос
ev-post-edited-link = 🔗 { $before } → { $after }
ev-post-edited-no-link = (нет)
ev-post-deleted = 🗑 Пост удалён в канале { $channel }
ev-post-deleted-date = Опубликован { DATETIME($date, dateStyle: "medium", timeStyle: "short") } UTC
ev-post-deleted-mass = { $count ->
    [one] (один из { $count } поста, удалённых разом)
   *[other] (один из { $count } постов, удалённых разом)
}
ev-post-deleted-no-text = В посте не было текста.
ev-post-deleted-archived = Сохранённый текст:

## Метки

label-fake = FAKE (фейк)
label-scam = SCAM (мошенничество)
label-verified = верифицирован
label-restricted = ограничение на { platform } ({ restriction-reason })
label-other = метка «{ $label }»

platform = { $platform ->
    [all] всех платформах
    [android] Android
    [ios] iOS
    [wp] Windows Phone
    [web] веб-версии
    [desktop] десктопе
    [macos] macOS
   *[other] { $platform }
}

restriction-reason = { $reason ->
    [unspecified] причина не указана
    [porn] порнография
    [copyright] авторские права
    [terms] нарушение правил Telegram
    [sensitive] деликатный контент
    [spam] спам
    [violence] насилие
    [childabuse] насилие над детьми
    [fake] фейк
    [scam] мошенничество
   *[other] { $reason }
}

ev-label-added = { $label ->
    [fake] ⚠️ Telegram пометил канал { $channel } как FAKE (фейк)
    [scam] ⚠️ Telegram пометил канал { $channel } как SCAM (мошенничество)
    [verified] ☑️ Telegram верифицировал канал { $channel }
   *[other] 🏷 Telegram добавил каналу { $channel } { $name }
}
ev-label-removed = { $label ->
    [fake] ✅ Telegram снял с канала { $channel } метку FAKE
    [scam] ✅ Telegram снял с канала { $channel } метку SCAM
    [verified] ❕ Telegram отозвал верификацию канала { $channel }
   *[other] 🏷 Telegram снял с канала { $channel } { $name }
}
ev-label-restricted-added = 🚫 Telegram ограничил канал { $channel } на { platform } ({ restriction-reason })
ev-label-restricted-removed = ✅ Telegram снял ограничение канала { $channel } на { platform } ({ restriction-reason })
ev-label-restriction-text = Пояснение Telegram:

## Канал

ev-channel-renamed = ✏️ Канал переименован: «{ $before }» → «{ $after }»
ev-channel-renamed-link = Канал: { $channel }
ev-channel-username-changed = 🔗 Канал { $channel } сменил адрес: @{ $before } → @{ $after }
ev-channel-username-set = 🔗 У канала { $channel } появился публичный адрес @{ $after }
ev-channel-username-removed = 🔗 Канал { $channel } отказался от публичного адреса @{ $before }
ev-channel-about-changed = 📝 Канал { $channel } изменил описание
ev-channel-photo-changed = { $change ->
    [added] 🖼 Канал { $channel } поставил фото
    [removed] 🖼 Канал { $channel } убрал фото
   *[replaced] 🖼 Канал { $channel } сменил фото
}
ev-channel-unavailable = { $reason ->
    [private] 🔒 Канал { $channel } стал закрытым
    [banned] ⛔ Telegram заблокировал канал { $channel }
    [deleted] 🗑 Канал { $channel } удалён
    [private_or_deleted] 🔒 Канал { $channel } стал закрытым или удалён (Telegram отвечает на то и другое одинаково)
    [username_released] ❓ Адрес канала { $channel } больше не ведёт на него
   *[other] ❓ Канал { $channel } недоступен
}
ev-channel-unavailable-name = Его имя @{ $username } теперь свободно: куда бы оно ни вело, это уже не этот канал.
ev-channel-unavailable-archive = Все увиденные посты остаются в архиве.
ev-channel-available = ✅ Канал { $channel } снова доступен
ev-channel-preview-withheld = 🙈 Telegram скрыл публичный веб-просмотр канала { $channel }
ev-channel-preview-restored = 👁 Публичный веб-просмотр канала { $channel } снова открыт
ev-channel-subscribers-jump = { $direction ->
    [down] 📉 Подписчики канала { $channel }: { $before } → { $after } ({ $sign }{ NUMBER($pct, maximumFractionDigits: 1) } %) за { NUMBER($hours, maximumFractionDigits: 1) } ч
   *[up] 📈 Подписчики канала { $channel }: { $before } → { $after } ({ $sign }{ NUMBER($pct, maximumFractionDigits: 1) } %) за { NUMBER($hours, maximumFractionDigits: 1) } ч
}

## Модераторы

ev-broadcast = 📣 Сообщение от модераторов chanwatch
ev-broadcast-channel = О канале { $channel }
ev-unknown = ℹ️ { $channel }: { $kind }
