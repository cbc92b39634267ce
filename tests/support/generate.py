"""Deterministic archives of realistic print-shop chats, for tests and benchmarks.

Ukrainian, Russian and English customers on Telegram and Viber ask about business cards,
banners, flyers and stickers; managers answer from the shop's mailbox. The text mixes what
real chats mix: Cyrillic 'А4' and Latin 'A4', 'ещё' and 'еще', п'ятниця with ' ’ ʼ or no
apostrophe, prices in грн, order numbers like №12345 and ORD-2026-0042. Words come in the
forms people write them (візитки, 500 візиток, з візитками; заказ, заказа, заказы; card,
cards), so that a search for one form can be measured finding the others (tests/data/
search/labelled.json, benches/word_forms.py). Some conversations are left unanswered. The
same seed gives the same content (routing tokens aside, which come from `secrets`).

    python -m tests.support.generate PATH --messages N --conversations M --seed S
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from im2mail.archive import Archive
from im2mail.model import Customer, Message, NewAttachment
from tests.support.archive_sql import writing

START = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
SPAN = timedelta(days=180)  # conversations start over about six months
MANAGERS = ["anna@shop.example", "petro@shop.example", "oksana@shop.example"]
BOTS = {"telegram": "shop", "viber": "shop-viber"}
SOURCES = [None, None, None, "site", "instagram", "qr-shop", "google-ads", "facebook", "olx"]

NAMES = {
    "uk": (
        ["Олена", "Андрій", "Оксана", "Тарас", "Ірина", "Богдан", "Марія", "Юлія", "Дмитро"],
        ["Коваленко", "Шевченко", "Бондаренко", "Ткаченко", "Мельник", "Кравчук", "Гнатюк"],
    ),
    "ru": (
        ["Алексей", "Наталья", "Сергей", "Ольга", "Артём", "Пётр", "Фёдор", "Светлана"],
        ["Смирнов", "Королёв", "Соловьёв", "Иванова", "Кузнецов", "Попова", "Лебедев"],
    ),
    "en": (["John", "Emma", "Michael", "Sarah", "David"], ["Smith", "Brown", "Taylor", "Walker"]),
}
TRANSLIT = str.maketrans(
    {"а": "a", "б": "b", "в": "v", "г": "h", "д": "d", "е": "e", "є": "ye", "ж": "zh",
     "з": "z", "и": "y", "і": "i", "ї": "yi", "й": "i", "к": "k", "л": "l", "м": "m",
     "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
     "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "yu", "я": "ya",
     "ё": "yo", "ы": "y", "э": "e"}
)  # fmt: skip

PRODUCTS = {
    "uk": ["візитки", "банер", "флаєри", "наліпки", "листівки", "буклети", "календарі"],
    "ru": ["визитки", "баннер", "флаеры", "наклейки", "открытки", "буклеты", "календари"],
    "en": ["business cards", "a banner", "flyers", "stickers", "postcards", "booklets"],
}
# Each product's forms: plural (as in PRODUCTS), genitive plural (after 5+: "500 візиток"),
# instrumental plural ("з візитками"), accusative singular ("замовити візитку").
FORMS = {
    "uk": [
        ("візитки", "візиток", "візитками", "візитку"),
        ("банери", "банерів", "банерами", "банер"),
        ("флаєри", "флаєрів", "флаєрами", "флаєр"),
        ("наліпки", "наліпок", "наліпками", "наліпку"),
        ("листівки", "листівок", "листівками", "листівку"),
        ("буклети", "буклетів", "буклетами", "буклет"),
        ("календарі", "календарів", "календарями", "календар"),
    ],
    "ru": [
        ("визитки", "визиток", "визитками", "визитку"),
        ("баннеры", "баннеров", "баннерами", "баннер"),
        ("флаеры", "флаеров", "флаерами", "флаер"),
        ("наклейки", "наклеек", "наклейками", "наклейку"),
        ("открытки", "открыток", "открытками", "открытку"),
        ("буклеты", "буклетов", "буклетами", "буклет"),
        ("календари", "календарей", "календарями", "календарь"),
    ],
    "en": [
        ("business cards", "business cards", "business cards", "a business card"),
        ("banners", "banners", "banners", "a banner"),
        ("flyers", "flyers", "flyers", "a flyer"),
        ("stickers", "stickers", "stickers", "a sticker"),
        ("postcards", "postcards", "postcards", "a postcard"),
        ("booklets", "booklets", "booklets", "a booklet"),
    ],
}
FRIDAY = ["п'ятниці", "п’ятниці", "пʼятниці", "пятниці"]
FORMATS = ["А4", "A4", "А3", "A3", "А5", "A5", "А6"]  # Cyrillic and Latin letters
SIZES = ["2х1", "2x1", "3х1,5", "1х0,5"]  # Cyrillic х and Latin x

INBOUND = {
    "uk": [
        "Добрий день! Скільки коштують {product} {qty} шт?",
        "Потрібні {product} формату {fmt}, {qty} штук. Встигнете до {friday}?",
        "Можна замовити {product} на {friday}? Тираж {qty}",
        "Надсилаю макет, гляньте будь ласка",
        "Замовлення {order} — коли буде готове?",
        "А ще потрібен банер {size} м, ціну підкажете?",
        "Дякую! Заберу в {friday} після обіду",
        "Папір крейдований чи звичайний? Формат {fmt}",
        "Доброго вечора, а ви працюєте в суботу?",
        "Скільки коштуватимуть {qty} {gen}? І чи є знижка на {product}?",
        "Хочу замовити {one}, макет пришлю ввечері",
        "Що з моїми {ins}? Замовлення {order}",
        "Оплатила рахунок, чекаю на {product}",
        "Надішліть, будь ласка, рахунки за всі замовлення",
        "У макеті помилка, виправлю і надішлю нові макети",
    ],
    "ru": [
        "Здравствуйте! Сколько стоят {product} {qty} шт?",
        "Нужно ещё {qty} шт, {product} формат {fmt}",
        "Заказ {order}, когда можно забрать?",
        "Можно ещё раз прислать счёт? Ещё нужен баннер {size} м",
        "Всё получил, спасибо! Еще будут заказы",
        "А ламинация сколько стоит? Формат {fmt}",
        "Сколько будет стоить {qty} {gen}?",
        "Хочу заказать {one}, макет скину вечером",
        "Что с моим заказом {order}? Жду {product}",
        "Когда будут готовы мои заказы? Оплатил по счёту",
        "Пришлите счета за заказы, пожалуйста",
    ],
    "en": [
        "Hi! How much for {qty} {product}?",
        "Could you print {product} in {fmt} by Friday?",
        "Order {order} - any update?",
        "Thanks, I'll pick it up tomorrow",
        "I'd like to order {one} for our shop",
        "Are my {product} printed yet? I ordered {qty}",
        "We are ordering {product} again, same design as last order",
    ],
}
OUTBOUND = {
    "uk": [
        "Добрий день! {product} {qty} шт — {price} грн, готові за {days} дні.",
        "Так, встигнемо до {friday}. Оплата на картку або за рахунком.",
        "Макет отримали, все добре. Друкуємо, формат {fmt}.",
        "Замовлення {order} готове, можна забирати.",
        "Банер {size} м коштуватиме {price} грн з люверсами.",
        "{qty} {gen} будуть готові в {friday}, рахунок надіслали.",
        "З {ins} все гаразд, друкуємо. Дякуємо за замовлення!",
        "Отримали ваш макет, по макету є питання: зателефонуємо.",
        "Ваших замовлень у роботі два, {order} готове.",
    ],
    "ru": [
        "Здравствуйте! {product} {qty} шт — {price} грн. Ещё вопросы?",
        "Заказ {order} готов, забирайте. Счёт отправили на почту.",
        "Да, формат {fmt} делаем, будет готово в {friday}.",
        "{qty} {gen} будут готовы завтра, счёт отправили.",
        "С {ins} всё в порядке, печатаем. Спасибо за заказ!",
        "По вашему заказу {order}: макет получили, заказа ждать два дня.",
    ],
    "en": [
        "Hello! {qty} {product} cost {price} UAH, ready in {days} days.",
        "Order {order} is ready for pickup.",
        "Your {product} are printed, {qty} in all.",
        "We're printing {one} for you today.",
    ],
}
IN_FILES = ["макет_візитки_{fmt}.pdf", "logo.png", "IMG_{n}.jpg", "banner_final_v2.pdf",
            "наклейки-макет.pdf", "photo_{n}.jpg"]  # fmt: skip
OUT_FILES = ["рахунок_{order}.pdf", "price-list.pdf", "proof_{order}.jpg"]
HEADERS = {".pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", ".jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
           ".png": b"\x89PNG\r\n\x1a\n"}  # fmt: skip
MIMES = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".png": "image/png"}
PRICE_LIST = HEADERS[".pdf"] + b"price list 2025: business cards from 350 UAH\n" * 20


@dataclass
class GenerationStats:
    customers: int = 0
    conversations: int = 0
    messages: int = 0
    attachments: int = 0
    unanswered: int = 0  # conversations whose last message is the customer's
    seconds: float = 0.0


@dataclass
class _Thread:
    """A conversation being generated: who speaks next and how much is left."""

    id: int
    lang: str
    customer: str
    manager: str
    budget: int
    unanswered: bool
    direction: str = "in"
    burst: int = 1
    count: int = 0
    last: str = field(default="")

    @property
    def longest_gap(self) -> float:
        """Seconds: a chatty customer comes back sooner, so no thread runs past ~a year."""
        return max(900.0, 2 * SPAN.total_seconds() / max(1, self.count + self.budget))


def generate(
    archive: Archive,
    *,
    conversations: int,
    messages: int,
    seed: int = 1,
    attachments_every: int = 20,
    batch: int = 5000,
) -> GenerationStats:
    """Fill `archive` with `conversations` conversations holding `messages` messages."""
    began = time.perf_counter()
    rng = random.Random(seed)
    stats = GenerationStats()
    threads = _conversations(archive, rng, conversations, messages, stats)
    stream = _messages(rng, threads, attachments_every, stats)
    stats.messages = archive.add_many(stream, batch=batch)
    stats.unanswered = sum(1 for t in threads if t.last == "in")
    stats.seconds = time.perf_counter() - began
    return stats


def _conversations(
    archive: Archive, rng: random.Random, count: int, messages: int, stats: GenerationStats
) -> list[_Thread]:
    budgets = _budgets(rng, count, messages)
    threads = []
    with writing(archive):  # one commit for all, as an import does
        for i in range(count):
            lang = rng.choices(["uk", "ru", "en"], weights=[55, 30, 15])[0]
            channel = "telegram" if rng.random() < 0.7 else "viber"
            customer = archive.upsert_customer(_customer(rng, i, lang, channel))
            conversation = archive.conversation_for(customer, BOTS[channel])
            unanswered = rng.random() < 0.12 or budgets[i] == 1
            manager = rng.choice(MANAGERS)
            threads.append(_Thread(conversation.id, lang, customer.display_name, manager,
                                   budgets[i], unanswered))  # fmt: skip
    stats.customers = stats.conversations = count
    return threads


def _budgets(rng: random.Random, count: int, messages: int) -> list[int]:
    """Messages per conversation: at least one each while they last, the rest long-tailed."""
    if count == 0:
        return []
    base = [1 if i < messages else 0 for i in range(count)]
    extra = max(0, messages - count)
    weights = [rng.paretovariate(1.3) for _ in range(count)]
    total = sum(weights)
    shares = [int(extra * w / total) for w in weights]
    for i in range(extra - sum(shares)):
        shares[i % count] += 1
    return [b + s for b, s in zip(base, shares, strict=True)]


def _customer(rng: random.Random, i: int, lang: str, channel: str) -> Customer:
    firsts, lasts = NAMES[lang]
    first, last = rng.choice(firsts), rng.choice(lasts)
    if rng.random() < 0.15:
        last = ""
    phone = f"+380{rng.randrange(10**8, 10**9)}" if rng.random() < 0.5 else None
    if channel == "telegram":
        external = str(rng.randrange(1, 60) * 10**8 + i)  # unique per customer
        latin = first.lower().translate(TRANSLIT)
        username = f"{latin}_{rng.randrange(1, 999)}" if rng.random() < 0.6 else None
    else:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        external = "".join(rng.choice(alphabet) for _ in range(16)) + f"{i:06x}=="
        username = None
    source = rng.choice(SOURCES)
    return Customer(channel, external, first, last, username, phone, source)


def _messages(
    rng: random.Random, threads: list[_Thread], every: int, stats: GenerationStats
) -> Iterator[tuple[Message, list[NewAttachment]]]:
    """Messages of all conversations interleaved in time order (ids grow with time)."""
    span = SPAN.total_seconds()
    heap = [(START + timedelta(seconds=rng.uniform(0, span)), i) for i, t in enumerate(threads)]
    heap = [item for item in heap if threads[item[1]].budget > 0]
    heapq.heapify(heap)
    n = 0
    while heap:
        when, i = heapq.heappop(heap)
        t = threads[i]
        n += 1
        direction = _next_direction(rng, t)
        files = _attachments(rng, t, direction) if every and n % every == 0 else []
        text = _text(rng, t.lang, direction)
        if files and rng.random() < 0.4:
            text = ""  # a photo or a file without a caption
        author = t.customer if direction == "in" else t.manager
        if direction == "out" and rng.random() < 0.1:
            author = rng.choice(MANAGERS)
        kind = "document" if files else "text"
        t.count += 1
        message = Message(
            t.id, direction, author, text, when, kind=kind, channel_message_id=str(t.count)
        )
        yield message, files
        stats.attachments += len(files)
        t.last = direction
        t.budget -= 1
        if t.budget:
            heapq.heappush(heap, (when + _gap(rng, direction, t.direction, t.longest_gap), i))


def _next_direction(rng: random.Random, t: _Thread) -> str:
    """Bursts: the customer writes 1-3 messages, a manager answers with 1-2."""
    if t.budget == 1 and t.count > 0:
        t.direction = "in" if t.unanswered else "out"
        return t.direction
    current = t.direction
    t.burst -= 1
    if t.burst <= 0:
        t.direction = "out" if current == "in" else "in"
        t.burst = rng.randint(1, 3) if t.direction == "in" else rng.randint(1, 2)
    return current


def _gap(rng: random.Random, previous: str, following: str, longest: float) -> timedelta:
    if previous == following:
        return timedelta(seconds=rng.randint(15, 240))
    if following == "out":
        return timedelta(seconds=rng.uniform(120, min(5 * 3600, longest)))  # a manager answers
    return timedelta(seconds=rng.uniform(600, min(7 * 86400, longest)))  # the customer returns


def _fill(rng: random.Random, template: str, lang: str) -> str:
    order = (
        f"№{rng.randrange(10000, 99999)}"
        if rng.random() < 0.5
        else f"ORD-2026-{rng.randrange(1, 9999):04d}"
    )
    forms = rng.choice(FORMS[lang])
    return template.format(
        product=rng.choice(PRODUCTS[lang]),
        gen=forms[1],
        ins=forms[2],
        one=forms[3],
        qty=rng.choice([50, 100, 200, 500, 1000, 2000]),
        fmt=rng.choice(FORMATS),
        friday=rng.choice(FRIDAY),
        order=order,
        size=rng.choice(SIZES),
        price=rng.choice([180, 350, 420, 650, 900, 1200, 2450]),
        days=rng.randint(1, 4),
        n=rng.randrange(1000, 9999),
    )


def _text(rng: random.Random, lang: str, direction: str) -> str:
    templates = INBOUND if direction == "in" else OUTBOUND
    return _fill(rng, rng.choice(templates[lang]), lang)


def _attachments(rng: random.Random, t: _Thread, direction: str) -> list[NewAttachment]:
    pattern = rng.choice(IN_FILES if direction == "in" else OUT_FILES)
    name = _fill(rng, pattern, t.lang)
    suffix = name[name.rindex(".") :]
    if name == "price-list.pdf":
        data = PRICE_LIST  # the same file again and again: one blob
    else:
        data = HEADERS[suffix] + rng.randbytes(rng.randint(200, 3000))
    return [NewAttachment(name, MIMES[suffix], data)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="archive.db to create or extend")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--attachments-every", type=int, default=20)
    args = parser.parse_args(argv)
    with Archive.open(args.path) as archive:
        stats = generate(
            archive,
            conversations=args.conversations,
            messages=args.messages,
            seed=args.seed,
            attachments_every=args.attachments_every,
        )
    print(
        f"{stats.messages} messages in {stats.conversations} conversations,"
        f" {stats.attachments} attachments, {stats.unanswered} unanswered;"
        f" {stats.seconds:.1f} s ({stats.messages / max(stats.seconds, 1e-9):.0f} messages/s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
