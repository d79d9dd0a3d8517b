# chanwatch — русский каталог разговора с ботом (команды, кнопки, ошибки).
#
# Значения подставляются как есть и уже экранированы для HTML вызывающим кодом
# ($channel — готовая HTML-ссылка). Не используйте в тексте <, > и одиночный &.

## Меню команд

cmd-start = Запустить бота заново
cmd-help = Что умеет бот
cmd-channels = Каналы под наблюдением, подписка
cmd-subscribe = Подписаться на канал: /subscribe @name
cmd-unsubscribe = Отписаться от канала
cmd-kinds = О каких событиях канала сообщать
cmd-filters = Фильтры по словам для канала
cmd-mute = Приостановить оповещения
cmd-unmute = Возобновить оповещения
cmd-digest = Недельная сводка: сейчас, вкл. или выкл.
cmd-lang = Язык
cmd-settings = Ваши настройки
cmd-target = Оповещения в вашем канале: /target @канал
cmd-topic = В группе-форуме: эта тема получает оповещения канала
cmd-stop = Уйти и удалить свои данные
cmd-watch = Модераторам: следить за каналом
cmd-unwatch = Модераторам: перестать следить за каналом
cmd-watched = Модераторам: список наблюдения
cmd-status = Модераторам: состояние сборщика и рассылки
cmd-events = Модераторам: последние события канала
cmd-mod = Модераторам: добавить или убрать модератора
cmd-ban = Модераторам: заблокировать пользователя
cmd-unban = Модераторам: снять блокировку
cmd-broadcast = Модераторам: сообщение всем подписчикам
cmd-audit = Модераторам: журнал действий
cmd-digest_run = Модераторам: разослать недельную сводку сейчас

## Для всех

start-welcome = Здравствуйте, { $name }! Я слежу за публичными Telegram-каналами и рассказываю, что с ними происходит: новые посты, правки, удаления и то, что Telegram делает с самим каналом, — метка FAKE или SCAM, ограничение, новое название или исчезновение канала.
    Нажмите «Каналы» ниже, чтобы выбрать, за чем следить, или отправьте /help.
start-again = С возвращением, { $name }! Ваши подписки на месте. Команды — в /help.

help-subscriber = Что я умею:
    /channels — каналы под наблюдением; нажмите на канал, чтобы подписаться или отписаться
    /subscribe @name — подписаться на канал; /unsubscribe @name — отписаться
    /kinds @name — какие события присылать: новые посты, правки, удаления, изменения канала
    /filters @name слово, «фраза» — сообщать только о постах с этими словами (* в конце — начало слова); /filters @name покажет фильтры, /filters @name - удалит их
    /mute 1h, 8h, 1d, 7d или число часов — пауза оповещений; /unmute — возобновить
    /digest — ваша недельная сводка прямо сейчас; /digest on или /digest off
    /lang — язык; /settings — все настройки сразу
    /target @вашканал — публиковать оповещения в вашем канале; /target — список, /target remove @вашканал — отвязать. Чтобы задать его правила, назовите его первым: /subscribe @вашканал @name, /filters @вашканал @name слова, /lang @вашканал en, /digest @вашканал on
    /stop — уйти и удалить свои данные
help-moderator = Для модераторов:
    /watch @name — следить за каналом; /unwatch @name — перестать (архив останется)
    /watched — список наблюдения: метки, доступность, проверки
    /status — состояние сборщика, очереди отправки и сводок
    /events @name — последние события канала
    /pack @name — пакет доказательств канала: подписанные наблюдения, проверка без сети
    /mod add ID, /mod remove ID — модераторы; /ban ID, /unban ID — блокировки
    /broadcast текст — сообщение всем подписчикам (с предпросмотром)
    /audit — кто что сделал; /digest_run — разослать недельную сводку сейчас

throttled = Вы пишете слишком часто. Подождите несколько секунд и повторите.
banned = Вам закрыт доступ к этому боту.
mod-only = Эта команда только для модераторов.
error-generic = У меня что-то сломалось. Пожалуйста, попробуйте позже.
error-busy = Не могу достучаться до базы данных. Попробуйте через минуту.
unknown-command = Я не знаю команду { $command }. Список команд — в /help.
unknown-text = Я понимаю только команды. Отправьте /help, чтобы их увидеть.
stale-button = Эта кнопка устарела. Отправьте команду ещё раз.
time-never = никогда

## Язык

lang-name = Русский
lang-choose = Выберите язык:
lang-set = Готово: буду говорить с вами по-русски.
lang-unknown = Я не говорю на «{ $code }». Доступны: { $languages }.

## Настройки

settings-header = Ваши настройки
settings-language = Язык: { $language }
settings-digest = Недельная сводка: { $state ->
    [on] включена
   *[off] выключена
}
settings-muted = Оповещения приостановлены до { $until }.
settings-not-muted = Оповещения включены.
settings-no-subscriptions = Вы пока ни на что не подписаны: см. /channels.
settings-subscriptions = { $count ->
    [one] Вы подписаны на { $count } канал:
    [few] Вы подписаны на { $count } канала:
   *[other] Вы подписаны на { $count } каналов:
}
settings-subscription = • { $channel } — { $kinds }; фильтры: { $filters }
settings-actions = Недельная сводка: { $state ->
    [on] включена
   *[off] выключена
}. Что изменить?
kinds-none = ничего
filters-all = нет, все посты

## Уход

stop-nothing = О вас ничего не хранится. Отправьте /start, чтобы начать.
stop-confirm = Уйти из chanwatch? Ваши подписки, фильтры и настройки будут удалены, и больше я ничего вам не пришлю.
stop-cancelled = Хорошо, ничего не удалено.
stop-done = Ваши данные удалены. До свидания! Если захотите вернуться, отправьте /start.
stop-linked = { $count ->
    [one] Привязанный вами канал { $channels } по-прежнему получает свои оповещения. Чтобы их остановить, отвяжите его: /target remove { $first }
   *[other] Привязанные вами каналы { $channels } по-прежнему получают свои оповещения. Чтобы остановить один из них, отвяжите его: /target remove { $first }
}
stop-target = { $channel } получает оповещения, пока вы его не отвяжете: /target remove { $channel }. /stop без канала останавливает оповещения этого чата.

## Кнопки

kb-yes = Да
kb-cancel = Отмена
kb-stop-yes = Да, удалить мои данные
kb-channels = 📋 Каналы
kb-language = 🌐 Язык
kb-digest-turn-on = Включить недельную сводку
kb-digest-turn-off = Выключить недельную сводку
kb-subscribe = ➕ { $title }
kb-subscribed = ✅ { $title }
kb-kinds = ⚙️ События
kb-prev = ◀️ Назад
kb-next = Ещё ▶️
kb-page = { $page } / { $total }
kb-kind-on = ✅ { $name }
kb-kind-off = ⬜ { $name }
kb-done = Готово
kb-mute-1h = 1 час
kb-mute-8h = 8 часов
kb-mute-1d = 1 день
kb-mute-7d = 7 дней
kb-unwatch = 🗑 { $title }
kb-unwatch-yes = Да, перестать следить
kb-broadcast-yes = Отправить всем
kb-digest-run-yes = Да, разослать сейчас

## Каналы и подписки

kind-name = { $group ->
    [posts] Новые посты
    [edits] Правки
    [deletions] Удаления
   *[channel] Изменения канала и метки
}
channels-none = Пока ни за одним каналом не ведётся наблюдение.
channels-header = { $count ->
    [one] Под наблюдением { $count } канал. Нажмите на канал, чтобы подписаться или отписаться (✅ — вы подписаны).
    [few] Под наблюдением { $count } канала. Нажмите на канал, чтобы подписаться или отписаться (✅ — вы подписаны).
   *[other] Под наблюдением { $count } каналов. Нажмите на канал, чтобы подписаться или отписаться (✅ — вы подписаны).
}
channels-header-named = Каналов под наблюдением: { $count }. ✅ — те, на которые подписан этот канал; чтобы изменить, назовите его первым: /subscribe @вашканал @name, /unsubscribe @вашканал @name.
channels-line = { $followed ->
    [yes] ✅
   *[no] •
} { $channel } — { $state }
channels-line-labels = { $followed ->
    [yes] ✅
   *[no] •
} { $channel } — { $labels } — { $state }
channel-reachable = доступен
channel-unreachable = { $reason ->
    [private] стал закрытым
    [banned] заблокирован Telegram
    [deleted] удалён
    [private_or_deleted] закрыт или удалён
    [username_released] имя больше не ведёт к нему
   *[other] недоступен
}
sub-added = Теперь вы подписаны на этот канал.
sub-removed = Вы отписались от этого канала.
stale-channel = За этим каналом больше не ведётся наблюдение.
stale-subscription = Вы больше не подписаны на этот канал.
handle-error = { $code ->
    [empty] Укажите канал, например @durov или https://t.me/durov.
    [private_link] «{ $text }» — приглашение в закрытый чат; я слежу только за публичными каналами.
    [not_channel] «{ $text }» — не канал.
   *[invalid] «{ $text }» — не имя канала. Укажите @name или ссылку t.me.
}
channel-not-watched = { $channel } нет в списке наблюдения. Каналы, на которые можно подписаться, — в /channels.
channel-unknown = Я не знаю канала { $channel }.
sub-added-cmd = Теперь вы подписаны на { $channel }. Выберите события в /kinds и фильтры в /filters.
sub-already = Вы уже подписаны на { $channel }.
unsub-done = Вы отписались от { $channel }.
not-subscribed = Вы не подписаны на { $channel }.

kinds-usage = Отправьте /kinds @name, чтобы выбрать, о каких событиях канала сообщать.
kinds-header = О каких событиях { $channel } сообщать?
kinds-at-least-one = Оставьте хотя бы один вид. Чтобы не получать ничего, отпишитесь от канала.
kinds-saved = Сохранено. { $channel }: { $kinds }.
kinds-show = { $channel }: { $kinds }.
kinds-by-words = Чтобы изменить, перечислите виды после канала: posts (новые посты), edits (правки), deletions (удаления), channel (изменения канала и метки). Например: /kinds @вашканал @name posts edits
kinds-unknown = «{ $word }» — не вид событий. Перечислите из: posts, edits, deletions, channel.

filters-usage = Фильтры по словам: /filters @name слово, «фраза» — тогда о постах я сообщаю, только если в посте есть одно из них. * в конце означает начало слова. Не больше { $max } фильтров, каждый до { $length } символов. /filters @name покажет фильтры, /filters @name - удалит их.
filters-show = Фильтры { $channel }: { $keywords }
filters-none = У { $channel } нет фильтров: вы получаете все посты.
filters-bad-keyword = «{ $keyword }» не может быть фильтром: нужно от 1 до { $length } символов.
filters-too-many = Слишком много фильтров: не больше { $max } на канал.
filters-set = Фильтры { $channel } теперь: { $keywords }
filters-cleared = Фильтры { $channel } удалены: вы получаете все посты.

## Пауза и сводка

mute-usage = На сколько? Отправьте /mute 1h, 8h, 1d или 7d (или число часов) либо нажмите:
mute-invalid = «{ $value }» — не срок. Укажите 1h, 8h, 1d, 7d или число часов, не больше года.
mute-set = Оповещения приостановлены до { $until }. Чтобы возобновить раньше, отправьте /unmute.
unmute-not-muted = Оповещения не приостановлены.
unmute-done = Оповещения снова включены.
digest-on = Недельная сводка включена.
digest-off = Недельная сводка выключена.
digest-usage = Отправьте /digest, чтобы получить сводку сейчас, или /digest on, /digest off.
digest-unavailable = Сводка сейчас недоступна. Попробуйте позже.
digest-queued = Ваша сводка за последние 7 дней уже в пути.
digest-empty = Сейчас нечего отправить: сначала подпишитесь на каналы или подождите минуту, если только что запрашивали сводку.

## Модераторам: наблюдение

watch-usage = Отправьте /watch @name или /watch https://t.me/name, чтобы следить за каналом.
watch-requested = Ищу { $handle }…
watch-queued = { $handle } в очереди; сборщик ещё не ответил. Загляните в /watched чуть позже.
watch-result = { $code ->
    [added] Теперь слежу за { $channel }.
    [already] За { $channel } уже ведётся наблюдение.
    [not_found] { $channel } не существует.
    [is_user] { $channel } — пользователь, а не канал.
    [is_bot] { $channel } — бот, а не канал.
    [is_group] { $channel } — группа, а не канал.
    [private] { $channel } — закрытый; я слежу только за публичными каналами.
    [not_channel] { $channel } — не канал.
    [unknown_id] Не нахожу канал с id { $channel }; укажите его @name.
    [invalid] { $channel } — недопустимое имя канала.
    [no_posts] { $channel } не показывает публичных постов на t.me, и без аккаунта Telegram я не могу узнать, что это за канал.
    [unreachable] Сейчас не удалось открыть t.me; попробуйте позже.
   *[other] Не удалось начать наблюдение за { $channel }.
}
watched-none = Ни за одним каналом не ведётся наблюдение.
unwatch-choose = За каким каналом перестать следить?
unwatch-not-watched = { $channel } нет в списке наблюдения.
unwatch-confirm = Перестать следить за { $channel }? Архив и события останутся.
unwatch-cancelled = Отменено; наблюдение продолжается.
unwatch-done = Больше не слежу за { $channel }. Архив остаётся.

watched-header = { $count ->
    [one] Под наблюдением { $count } канал:
    [few] Под наблюдением { $count } канала:
   *[other] Под наблюдением { $count } каналов:
}
watched-title = • { $channel }
watched-title-labels = • { $channel } — { $labels }
watched-post = №{ $id } в { $time }
watched-no-post = пока нет
watched-details = { $state } · последний пост: { $post } · проверен: { $checked }{ $retries ->
    [0] {""}
   *[other] {" "}· неудачных проверок: { $retries }
}
flood-none = Флуд-ожиданий нет.
flood-item = { $request } { $seconds } с
flood-waits = Флуд-ожидания: { $waits }

## Модераторам: состояние

status-header = Состояние chanwatch
status-collector-unknown = Сборщик: ещё не отчитывался.
status-collector = Сборщик { $name }: { $state ->
    [connected] подключён
   *[disconnected] не подключён
} (отчёт { $updated })
status-webpreview = Веб-просмотр { $name }: запросов { $requests }, непрочитанных страниц { $errors }, следующий запрос через { $backoff } с (данные от { $updated })
status-lag = Отставание опроса: { $seconds } с
status-collector-row = { $kind ->
    [web] Веб-сборщик
   *[account] Аккаунт
} { $name }: каналов { $channels }, вступил в { $joined }, отклик { $age } с назад{ $alive ->
    [yes] {""}
   *[no] {" "}(не отвечает: его каналы передаются другим)
}{ $limited ->
    [none] {""}
   *[other] , ограничен до { $limited } ({ $reason })
}
status-lag-unknown = Отставание опроса: неизвестно
status-unreadable = ⚠️ Каналы, которые этот аккаунт не может читать ({ $count }): { $channels }: нет access hash и нет имени, по которому их найти. Добавьте их снова через /watch по публичной ссылке.
status-outbox = Очередь отправки: ждут { $pending }, отправляются { $sending }, не удалось { $failed }
status-sends = Отправлено за последнюю минуту: { $count }
status-media = Медиа: сохранено файлов { $stored } ({ $size }), ждут { $pending }, больше предела { $too_large } (сохранена миниатюра), утрачено { $lost }, ошибок { $failed }
status-media-full = ⚠️ Хранилище медиа заполнено: новые загрузки ждут.
notice-media-nearly-full = ⚠️ Хранилище медиа chanwatch заполнено на 90 % ({ $used }). Увеличьте MEDIA_MAX_TOTAL_GB или место на диске: при 100 % новые загрузки остановятся (сохранённое не удаляется).
status-digest-none = Последняя сводка: ещё не было
status-digest-running = Сводка { $period }: идёт с { $started }
status-digest = Последняя сводка: { $period }, завершена { $completed }, подписчиков: { $count }
status-counts = Каналов под наблюдением: { $channels }; подписчиков: { $subscribers }

events-usage = Отправьте /events @name, можно с числом событий (до { $max }).
events-none = У { $channel } пока нет событий.
events-header = Последние события { $channel } ({ $count }):
events-line = { $time } · { $text }

## Модераторам: люди

mod-list = Модераторы из конфигурации: { $configured }
    Назначены в боте: { $granted }
    Изменить: /mod add ID или /mod remove ID.
mod-usage = Отправьте /mod add ID или /mod remove ID (числовой id пользователя Telegram).
mod-configured = { $user } — модератор по конфигурации; уберите его там.
mod-added = { $user } теперь модератор.
mod-already = { $user } уже модератор.
mod-removed = { $user } больше не модератор.
mod-not = { $user } не назначен модератором в боте.
ban-usage = Отправьте /ban ID (числовой id пользователя Telegram).
ban-self = Нельзя заблокировать самого себя.
ban-configured = { $user } — модератор по конфигурации, его нельзя заблокировать.
ban-done = { $user } заблокирован.
ban-already = { $user } уже заблокирован.
unban-usage = Отправьте /unban ID (числовой id пользователя Telegram).
unban-done = { $user } разблокирован.
unban-not = { $user } не заблокирован.

## Модераторам: рассылка, журнал, сводка

broadcast-usage = Отправьте /broadcast и текст. Сначала вы увидите предпросмотр.
broadcast-preview = { $count ->
    [one] Предпросмотр. Отправить это { $count } подписчику?
   *[other] Предпросмотр. Отправить это подписчикам ({ $count })?
}
broadcast-already = По этой рассылке решение уже принято.
broadcast-cancelled = Рассылка отменена.
broadcast-sent = { $count ->
    [one] Рассылка поставлена в очередь для { $count } подписчика.
   *[other] Рассылка поставлена в очередь, подписчиков: { $count }.
}

audit-usage = Отправьте /audit, можно с числом записей (до { $max }).
audit-none = Журнал пуст.
audit-header = Журнал, последние { $count }:
audit-line = { $time } · { $actor } · { $action ->
    [watch] наблюдение
    [unwatch] снятие с наблюдения
    [mod_add] модератор добавлен
    [mod_remove] модератор убран
    [ban] блокировка
    [unban] разблокировка
    [broadcast_preview] черновик рассылки
    [broadcast_send] рассылка отправлена
    [broadcast_cancel] рассылка отменена
    [digest_run] рассылка сводки
   *[other] { $action }
} { $target }

digest-run-confirm = Разослать недельную сводку всем подписчикам сейчас?
digest-run-cancelled = Рассылка сводки отменена.
digest-run-started = Собираю сводки…
digest-run-done = { $count ->
    [one] Сводка поставлена в очередь для { $count } подписчика.
   *[other] Сводки поставлены в очередь, подписчиков: { $count }.
}

cmd-pack = Модераторы: пакет доказательств канала (ZIP)
status-key = Ключ подписи: { $fingerprint }
pack-usage = Отправьте /pack @name, чтобы получить пакет доказательств канала: его наблюдения, подписанные и проверяемые без сети.
pack-caption = Пакет доказательств: записей { $records }, медиафайлов { $media }. Проверка: python verify.py
pack-too-big = Пакет весит { $size } МБ, больше лимита бота в 50 МБ. Соберите его на сервере: { $command }

## Группы, темы форумов и каналы

group-start = В этой группе я публикую оповещения о публичных каналах, на которые она подписана. Выбирают их администраторы группы теми же командами, что и в личном чате: /subscribe @name, /kinds @name, /filters @name, /mute, /lang, /digest, /settings. В форуме администратор отправляет /topic @name внутри темы, чтобы оповещения этого канала приходили туда.
group-added = Спасибо, что добавили меня. Что я публикую здесь, выбирают администраторы группы: /subscribe @name или /help со всеми командами.
group-admins-only = Менять то, что я публикую здесь, могут только администраторы группы.
topic-usage = Отправьте /topic @name внутри темы форума: оповещения этого канала будут приходить в эту тему. Отправленная в «General», команда вернёт их туда.
topic-not-forum = Темы бывают только в супергруппе-форуме.
topic-set = Оповещения из { $channel } теперь приходят в эту тему.
topic-cleared = Оповещения из { $channel } теперь приходят в «General».
target-usage = /target @вашканал привязывает ваш канал (я должен быть в нём администратором с правом публикации); /target — список привязанных; /target remove @вашканал — отвязать.
target-none = Вы не привязали ни одного канала. Отправьте /target @вашканал.
target-header = Ваши каналы ({ $count }):
target-line = { $channel } — { $title }: подписок: { $count }{ $state ->
    [gone] , публиковать туда я больше не могу
   *[ok] {""}
}
target-not-found = Telegram не знает публичного чата { $channel }.
target-not-channel = { $channel } — не канал. Добавьте меня в группу: там ею управляют её администраторы.
target-not-admin = Это может только администратор { $channel }.
target-bot-cannot-post = Сделайте меня администратором { $channel } с правом публиковать сообщения и отправьте /target ещё раз.
target-linked = { $channel } привязан. Его оповещения следуют его собственным правилам: назовите его первым, например /subscribe { $channel } @name, /filters { $channel } @name слова, /kinds { $channel } @name posts edits, /lang { $channel } en, /digest { $channel } off.
target-already = { $channel } уже был привязан.
target-unknown = { $channel } не привязан.
target-removed = { $channel } отвязан: туда больше ничего не уходит, его настройки удалены.
