"""Replies written from CRM, helpdesk and sales tools (batch blind40): what those tools add
around the manager's words without the manager seeing it, and the helpdesk notification
whose first comment is the answer."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.mail.replies import extract, html_to_text
from im2mail.mail.reply.helpdesk_comment import latest_comment

OURS = (
    "Олена Шевчук\nTelegram\n\nЧи є у вас календарі на 2027 рік?\n\n"
    "-- \nReply to this email to answer in Telegram.\n"
)


def _alternative(plain: str, html: str) -> EmailMessage:
    msg = EmailMessage()
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg


@pytest.mark.parametrize(
    "mark",
    ['<font color="#ffffff" size="1">ᐧ</font>',
     '<span style="color:#FFFFFF">[RKVQGZ-88213]</span>',
     '<span style="color: rgb(255, 255, 255)">ref 4471-AC</span>',
     '<div style="color:white">x9</div>'],
)  # fmt: skip
def test_white_text_on_no_background_is_not_the_managers(mark: str) -> None:
    """White text on the white page of a mail cannot be read: a tracking extension's mark,
    a helpdesk's reference kept for its threading. It does not reach the customer."""
    assert (
        html_to_text(f"<div>Так, є в наявності.</div><div>Анна</div>{mark}")
        == "Так, є в наявності.\nАнна"
    )


@pytest.mark.parametrize(
    "cell",
    ['<td bgcolor="#1f4e78"><font color="#ffffff">Товар</font></td>',
     '<td style="background:#1F4E78"><span style="color:#fff">Товар</span></td>',
     '<td style="background-color: #333"><div><span style="color:white">Товар</span></div></td>',
     '<td><span style="color:#fff;background:#c00">Товар</span></td>'],
)  # fmt: skip
def test_white_text_on_a_background_the_manager_painted_stays(cell: str) -> None:
    """A price table pasted from a spreadsheet draws its header white on a dark cell:
    that is read, so it goes out."""
    rows = f"<tr>{cell}<td>Ціна</td></tr><tr><td>Чашка</td><td>120 грн</td></tr>"
    html = f"<div>Ціни:</div><table>{rows}</table>"
    assert "Товар" in html_to_text(html)


def test_a_mark_the_html_part_hides_is_cut_from_the_end_of_the_plain_text() -> None:
    """Gmail writes a tracking extension's white mark into its text/plain alternative as a
    line of its own; the HTML does not show it, so it is no word of the manager's."""
    plain = "Добрый день!\n\nБудут готовы послезавтра.\n\nОльга\nᐧ\n"
    html = (
        '<div dir="ltr"><div>Добрый день!</div><div><br></div>'
        "<div>Будут готовы послезавтра.</div><div><br></div><div>Ольга</div>"
        '<font color="#ffffff" size="1">ᐧ</font></div>'
    )
    assert (
        extract(_alternative(plain, html)).text
        == "Добрый день!\n\nБудут готовы послезавтра.\n\nОльга"
    )


def test_a_short_last_line_the_html_part_shows_stays() -> None:
    plain = "Так, є.\n\nА\n"
    html = "<div>Так, є.</div><div><br></div><div>А</div>"
    assert extract(_alternative(plain, html)).text == "Так, є.\n\nА"


NOTICE = (
    "{marker}\n\n"
    "Your request (52014) has been updated. To add additional comments, reply to this email.\n\n"
    "----------------------------------------------\n\n"
    "{header}\n\n"
    "Добрий день, Олено!\n\nТак, 420 грн за штуку.\n\nІгор\n\n"
    "----------------------------------------------\n\n"
    "Олена Шевчук via Telegram, Nov 23, 2026, 14:05 GMT+2\n\n" + OURS + "\n"
    "--------------------------------\nThis email is a service from Shop.\n\n[9QW2EL-KX7P]\n"
)


@pytest.mark.parametrize(
    "marker",
    ["##- Please type your reply above this line -##",
     "-- Bitte oberhalb dieser Zeile antworten --",
     "## Відповідайте над цим рядком ##"],
)  # fmt: skip
@pytest.mark.parametrize(
    "header", ["Ігор Мороз (Shop)\n\nNov 23, 2026, 15:12 GMT+2", "Ігор Мороз, 23.11.2026 15:12"]
)
def test_a_helpdesk_notification_gives_its_first_comment(marker: str, header: str) -> None:
    """A helpdesk answering from the shop's mailbox sends its notification: a marker line
    framed by symbols with nothing above it, a sentence, a rule, then the newest comment
    under its author and date; the comments below the next rule are the history."""
    msg = EmailMessage()
    msg.set_content(NOTICE.format(marker=marker, header=header))
    assert extract(msg, [OURS]).text == "Добрий день, Олено!\n\nТак, 420 грн за штуку.\n\nІгор"
    assert extract(msg).text == "Добрий день, Олено!\n\nТак, 420 грн за штуку.\n\nІгор"


@pytest.mark.parametrize(
    "text",
    ["##- Please type your reply above this line -##\n\nДякую, отримали.\n",  # no rule, no header
     "Так, є.\n\n##- Please type your reply above this line -##\n\n-----------\n\n"
     "Ігор, 23.11.2026 15:12\n\nТекст\n",  # words above the marker: a reply, quoting it
     "---------- Forwarded message ---------\nFrom: Олена <o@example.com>\n"
     "Date: Mon, Nov 23, 2026 at 2:05 PM\nSubject: Календарі\n\nТекст листа\n",
     "##- Please type your reply above this line -##\n\n----------\n\n"
     "Це довгий перший рядок відповіді, а не заголовок коментаря: у ньому немає ні дати, "
     "ні часу, тож це не та форма\n\nТекст\n"],
)  # fmt: skip
def test_text_without_the_whole_notification_shape_is_left_as_it_is(text: str) -> None:
    assert latest_comment(text) == text


def test_white_text_is_seen_when_a_style_sheet_paints_a_background() -> None:
    """A sheet may paint the page or any cell dark: white text is then read, and stays."""
    html = "<style>body{background:#222}</style><div style='color:#fff'>Так, є в наявності.</div>"
    assert html_to_text(html) == "Так, є в наявності."


def test_an_emoji_the_html_part_draws_as_a_picture_stays() -> None:
    """Gmail draws some emoji as pictures in its HTML: the text/plain line is the manager's."""
    plain = "Так, є.\n\n👍\n"
    html = '<div>Так, є.</div><div><br></div><div><img alt="👍" src="https://fonts.gstatic.com/e.png"></div>'
    assert extract(_alternative(plain, html)).text == "Так, є.\n\n👍"
