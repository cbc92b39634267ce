"""What `im2mail demo` plays: a print shop's customers writing to its Telegram bot and two
managers answering from the mailbox, each hop shown as it happens (demo.py sets the
stage: servers, home, relay)."""

from __future__ import annotations

import asyncio
import shlex
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..testing.mail_servers import (
    Caught,
    ImapServer,
    Mail,
    MailCatcher,
    append,
    email_lines,
    first_lines,
    gmail_reply,
    pictures,
    reply_lines,
)
from ..testing.telegram_api import Sent, TelegramDouble, User
from .demo_stage import HOP_TIMEOUT, RelayProcess, wait_for


@dataclass(frozen=True)
class Manager:
    name: str
    address: str

    @property
    def mailbox(self) -> str:
        return f"{self.name} <{self.address}>"


MANAGERS = (
    Manager("Anna Koval", "anna@shop.example"),
    Manager("Petro Melnyk", "petro@shop.example"),
)
ANNA, PETRO = MANAGERS
BOT_USERNAME = "vidbytok_druk_bot"
BOT_TITLE = "Друкарня «Відбиток»"
GREETING = "Вітаємо в друкарні «Відбиток»! Напишіть, що надрукувати, менеджер відповість тут."
QUESTION = "Добрий день! Скільки коштують 200 візиток?"
CAPTION = "Ось макет візитки, друк з двох сторін"
CARD = (files("im2mail.testing") / "card.jpg").read_bytes()  # a real picture, 4.5 KB
ANSWER = (
    "Добрий день, Олено! 200 двосторонніх візиток на щільному папері — 450 грн, "
    "готові завтра до 12:00. Макет підходить, оформлюємо?"
)
SATURDAY = "Привіт! Ви працюєте в суботу? Хочу забрати банер."
SATURDAY_ANSWER = "Так, у суботу ми відкриті з 10:00 до 15:00. Банер уже чекає на вас."
PAUSE = 0.8  # seconds between the script's steps at --speed 1
_NUMBERS = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫"


class Show:
    """The live output: one numbered line per hop with its time, details indented."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.hops = 0
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.console.print(Text(f"· {text}", style="dim"))

    def hop(self, headline: str, took: float, details: list[str] = ()) -> None:  # type: ignore[assignment]
        self.hops += 1
        number = _NUMBERS[self.hops - 1] if self.hops <= len(_NUMBERS) else f"({self.hops})"
        line = Text.assemble((f"{number} ", "bold cyan"), headline, (f" ({took:.1f} s)", "dim"))
        self.console.print(line)
        for detail in details:
            self.console.print(Text(f"    {detail}"))

    def log_tail(self, lines: list[str]) -> None:
        if lines:
            self.console.print(Text("The relay's last log lines:", style="bold"))
            for line in lines:
                self.console.print(Text(f"    {line}", style="dim"))

    def done(self, home: Path) -> None:
        took = time.monotonic() - self.started
        env = f"IM2MAIL_HOME={shlex.quote(str(home))}"
        self.console.print(
            Text.assemble(
                ("\nDone", "bold green"),
                f" in {took:.1f} s. The archive stays in {home} (archive.db, blobs/);"
                " the relay's log is relay.log there. Try:",
            )
        )
        for command in ("conversations", "tail", "search візитки", "search 'візит*' --json"):
            self.console.print(Text(f"    {env} im2mail {command}", style="bold"))


@dataclass
class Rig:
    """The parts the script drives."""

    tg: TelegramDouble
    token: str
    smtp: MailCatcher
    imap: ImapServer
    relay: RelayProcess
    speed: float

    async def pause(self) -> None:
        if self.speed > 0:
            await asyncio.sleep(PAUSE * self.speed)

    async def email(self, count: int, what: str, match=lambda caught: True) -> Caught:
        """The `count`th email (1-based) the SMTP server got that `match`es."""

        def found() -> Caught | None:
            hits = [c for c in self.smtp.received() if match(c)]
            return hits[count - 1] if len(hits) >= count else None

        return await wait_for(what, found, self.relay, HOP_TIMEOUT)

    async def telegram(self, user: User, count: int, what: str) -> Sent:
        """The `count`th message the bot sent to `user`."""

        def found() -> Sent | None:
            sent = self.tg.sent_messages(user.id)
            return sent[count - 1] if len(sent) >= count else None

        return await wait_for(what, found, self.relay, HOP_TIMEOUT)

    async def reply(self, manager: Manager, original: Mail, text: str) -> Mail:
        """`manager` presses Reply in Gmail; the mail lands in the shop mailbox."""
        reply = gmail_reply(original, text, sender=manager.mailbox)
        await asyncio.to_thread(append, self.imap, reply)
        return reply


async def play(rig: Rig, show: Show) -> None:
    tg, token = rig.tg, rig.token
    olena = tg.customer("Олена", "Петренко", username="olena_petrenko")
    await rig.pause()

    began = time.monotonic()
    await tg.push_start(token, olena, "site")
    greeting = await rig.telegram(olena, 1, "hop ①, the bot's greeting to Олена")
    await rig.email(1, "hop ①, the managers' email that Олена started the chat")
    show.hop("Олена pressed Start in Telegram → the bot greeted her; the managers got an email",
             since(began), [f'bot: "{greeting.text}"'])  # fmt: skip
    await rig.pause()

    began = time.monotonic()
    await tg.push_text(token, olena, QUESTION)
    asked = await rig.email(2, "hop ②, the managers' email with Олена's question")
    show.hop(f'Олена wrote "{QUESTION}" → email to the managers', since(began),
             email_lines(asked.message))  # fmt: skip
    await rig.pause()

    began = time.monotonic()
    await tg.push_photo(token, olena, CARD, caption=CAPTION)
    photo = await rig.email(3, "hop ③, the managers' email with Олена's photo")
    show.hop(f'Олена sent a photo "{CAPTION}" → email with the picture inline', since(began),
             email_lines(photo.message, body=False) + pictures(photo.message))  # fmt: skip
    await rig.pause()

    began = time.monotonic()
    reply = await rig.reply(ANNA, photo.message, ANSWER)
    show.hop("Anna pressed Reply in Gmail → her reply is in the shop mailbox (IMAP INBOX)",
             since(began), reply_lines(reply))  # fmt: skip
    sent = await rig.telegram(olena, 2, "hop ⑤, Anna's reply in Олена's Telegram")
    show.hop(f'Anna\'s reply → Олена\'s Telegram: "{sent.text}"', since(began),
             ["only Anna's words: Gmail's quote and attribution line were cut"])  # fmt: skip

    about_reply = lambda c: c.message["In-Reply-To"] == reply["Message-ID"]  # noqa: E731
    notice = await rig.email(1, "hop ⑥, the team notice to Petro", about_reply)
    show.hop(f"Petro got the team notice: \"{notice.message['Subject']}\"", since(began),
             [f"To: {notice.message['To']}", *first_lines(notice.message, 1)])  # fmt: skip
    await rig.pause()

    await second_customer(rig, show)


async def second_customer(rig: Rig, show: Show) -> None:
    dmytro = rig.tg.customer("Дмитро", "Шевчук")
    began = time.monotonic()
    before = len(rig.smtp.received())
    await rig.tg.push_text(rig.token, dmytro, SATURDAY)
    asked = await rig.email(before + 1, "hop ⑦, the managers' email with Дмитро's question")
    show.hop(f'Дмитро wrote "{SATURDAY}" → email, a conversation of its own', since(began),
             [f"Subject: {asked.message['Subject']}"])  # fmt: skip
    await rig.pause()

    began = time.monotonic()
    await rig.reply(PETRO, asked.message, SATURDAY_ANSWER)
    sent = await rig.telegram(dmytro, 2, "hop ⑧, Petro's reply in Дмитро's Telegram")  # 1: greeting
    show.hop(f'Petro replied by email → Дмитро\'s Telegram: "{sent.text}"', since(began))


def since(began: float) -> float:
    return time.monotonic() - began
