"""Planning an answer as steps (Telegram.plan), and sending steps (send_steps), offline."""

from __future__ import annotations

import pytest

from im2mail.channels import Rejected, RetryLater, Step, send_steps, utf16_len
from im2mail.channels.telegram.channel import Telegram

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n"
PDF = ("Рахунок.pdf", "application/pdf", b"%PDF-1.7")
TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def telegram() -> Telegram:
    return Telegram("shop", "123:ABC", "http://127.0.0.1:9")  # nothing listens: no call may go


def photo(i: int = 0) -> tuple[str, str, bytes]:
    return (f"{i}.jpg", "image/jpeg", JPEG + bytes([i]))


# -- text ------------------------------------------------------------------------------------


def test_blank_text_and_no_files_plan_nothing(telegram):
    assert telegram.plan("") == []
    assert telegram.plan("  \n\t ") == []


def test_short_text_is_one_text_step_stripped(telegram):
    assert telegram.plan("  Доброго дня!\n") == [Step("Доброго дня!")]


def test_long_text_is_split_into_text_steps_in_order(telegram):
    paragraph = "Друк займе два робочі дні, після чого передамо замовлення на пошту. " * 20
    text = "\n\n".join([paragraph.strip()] * 8)
    steps = telegram.plan(text)
    assert len(steps) == 3
    assert {s.sort for s in steps} == {"text"} and all(s.files == () for s in steps)
    assert all(0 < utf16_len(s.text) <= 4096 for s in steps)
    assert " ".join(s.text for s in steps).split() == text.split()


def test_the_4096_limit_counts_utf16_units(telegram):
    assert telegram.plan("😀" * 2048) == [Step("😀" * 2048)]  # 4096 units: one message
    steps = telegram.plan("a" + "😀" * 2048)  # 4097 units
    assert [s.text for s in steps] == ["a" + "😀" * 2047, "😀"]
    assert utf16_len(steps[0].text) == 4095


# -- files -----------------------------------------------------------------------------------


def test_a_caption_up_to_1024_units_rides_on_the_first_file_only(telegram):
    caption = "😀" * 512  # 1024 UTF-16 units, 512 characters
    steps = telegram.plan(f"  {caption}\n", [photo(), PDF])
    assert steps == [Step(caption, (photo(),), "photo"), Step("", (PDF,), "document")]


def test_a_caption_over_1024_units_goes_ahead_as_text(telegram):
    caption = "😀" * 512 + "!"  # 1025 units
    steps = telegram.plan(caption, [photo(), PDF])
    assert steps == [Step(caption), Step("", (photo(),), "photo"), Step("", (PDF,), "document")]


def test_a_long_caption_ahead_of_files_is_split_like_any_text(telegram):
    text = "Слово " * 1500  # 9000 characters
    steps = telegram.plan(text, [PDF])
    assert [s.sort for s in steps] == ["text", "text", "text", "document"]
    assert steps[-1] == Step("", (PDF,), "document")


def test_files_without_text_have_no_caption(telegram):
    assert telegram.plan("", [PDF]) == [Step("", (PDF,), "document")]


@pytest.mark.parametrize(("count", "groups"), [(10, [10]), (11, [10, 1]), (12, [10, 2])])
def test_pictures_go_in_albums_of_up_to_ten(telegram, count, groups):
    files = [photo(i) for i in range(count)]
    steps = telegram.plan("Макети", files)
    assert [len(s.files) for s in steps] == groups
    assert {s.sort for s in steps} == {"photo"}
    assert [s.text for s in steps] == ["Макети"] + [""] * (len(groups) - 1)
    assert [f for s in steps for f in s.files] == files


def test_photos_go_before_documents_whatever_the_order_given(telegram):
    png = ("схема.png", "image/png", PNG)
    steps = telegram.plan("Ось", [PDF, png])
    assert steps == [Step("Ось", (png,), "photo"), Step("", (PDF,), "document")]


def test_several_documents_make_a_document_album(telegram):
    docs = [(f"{i}.pdf", "application/pdf", b"%PDF" + bytes([i])) for i in range(3)]
    assert telegram.plan("", docs) == [Step("", tuple(docs), "document")]


def test_pictures_over_10_mb_or_of_other_types_go_as_documents(telegram):
    big = ("big.png", "image/png", PNG + b"\x00" * (TEN_MB - len(PNG) + 1))
    limit = ("limit.png", "image/png", PNG + b"\x00" * (TEN_MB - len(PNG)))
    gif = ("anim.gif", "image/gif", b"GIF89a")
    steps = telegram.plan("", [big, limit, gif])
    assert steps == [Step("", (limit,), "photo"), Step("", (big, gif), "document")]


def test_the_plan_is_deterministic(telegram):
    files = [PDF, *(photo(i) for i in range(12)), ("a.png", "image/png", PNG)]
    text = "Дякуємо! " * 200
    first = telegram.plan(text, files)
    assert first == telegram.plan(text, list(files)) == telegram.plan(text, tuple(files))
    assert [s.sort for s in first] == ["text", "photo", "photo", "document"]


# -- send_steps ------------------------------------------------------------------------------


class Recorder:
    """Stands in for a channel: sends a step as one id per file (or one for text)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls: list[Step] = []

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        if len(self.calls) == self.fail_at:
            raise RetryLater("flood control", seconds=7)
        self.calls.append(step)
        return [f"{len(self.calls)}.{i}" for i in range(max(len(step.files), 1))]


STEPS = [Step("one"), Step("", (photo(1), photo(2)), "photo"), Step("", (PDF,), "document")]


async def test_send_steps_collects_the_ids_in_order():
    channel = Recorder()
    assert await send_steps(channel, "42", STEPS) == ["1.0", "2.0", "2.1", "3.0"]
    assert channel.calls == STEPS


async def test_a_failure_midway_keeps_its_type_and_says_what_was_sent():
    channel = Recorder(fail_at=2)
    with pytest.raises(RetryLater) as caught:
        await send_steps(channel, "42", STEPS)
    assert caught.value.seconds == 7
    assert caught.value.sent == ("1.0", "2.0", "2.1")


async def test_a_failure_at_the_first_step_sent_nothing():
    class Refusing(Recorder):
        async def send_step(self, chat_id: str, step: Step) -> list[str]:
            raise Rejected("chat not found")

    with pytest.raises(Rejected) as caught:
        await send_steps(Refusing(), "42", STEPS)
    assert caught.value.sent == ()
