"""Channels the tests script, for the parts of the relay that use one without a platform:

- ScriptedChannel: what the intake takes updates from. parse() returns the updates the
  test put in `next`; what the bot says is kept in `sent`; `down` makes sending fail as a
  proxy's Bad Gateway would; fetch() "downloads" a small JPEG made of the file's ref.
  ScriptedViber plays Viber: a bot "vshop" whose greeting is a welcome message.
- ScriptedSender: what the chat outbox sends replies through. plan() cuts a text into
  pieces of 10 characters and puts files in one more step; send_step() keeps (chat, step)
  in `sent` and raises the errors queued in `errors` (None: that call goes through).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from im2mail.channels import ChannelBase, ChannelError, OutgoingFile, Step
from im2mail.model import Incoming, IncomingFile


class ScriptedChannel(ChannelBase):
    name = "telegram"
    download_limit = 20 * 1024 * 1024  # Telegram's, for the flood and intake tests

    def __init__(self, bot: str = "shop") -> None:
        self.bot = bot
        self.next: list[Incoming] = []
        self.sent: list[str] = []
        self.down = False

    def parse(self, raw: dict[str, Any]) -> list[Incoming]:
        return self.next

    async def fetch(self, file: IncomingFile, limit: int, sink: Any) -> None:
        await sink.write(b"\xff\xd8" + file.ref.encode())

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        if self.down:
            raise ChannelError("Bad Gateway")
        self.sent.append(text)
        return [str(900 + len(self.sent))]


class ScriptedViber(ScriptedChannel):
    name = "viber"

    def __init__(self, bot: str = "vshop") -> None:
        super().__init__(bot)

    def welcome(self, text: str) -> dict[str, Any]:
        return {"sender": {"name": "Друкарня"}, "type": "text", "text": text}


class ScriptedSender:
    text_limit = 10

    def __init__(self) -> None:
        self.sent: list[tuple[str, Step]] = []
        self.errors: list[Exception | None] = []

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        steps = [Step(text[i : i + 10]) for i in range(0, len(text), 10)]
        return steps + ([Step("", tuple(files), "document")] if files else [])

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        if self.errors:
            error = self.errors.pop(0)
            if error is not None:
                raise error
        self.sent.append((chat_id, step))
        return [str(100 + len(self.sent))]
