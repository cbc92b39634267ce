"""Quoted history found by the words of our own emails (mail/quoted_history.py, issue 19):
history any client quotes in any shape is cut when it is ours, what is left is checked for
runs of our text, and only a manager's deliberate pasting gets through."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.mail.replies import extract, strip_text
from im2mail.mail.reply import quoted_history
from im2mail.mail.reply.quoted_history import LEAK_WORDS, SentText, cut_trailing, leak

OURS = (
    "Ivan Petrenko\nTelegram\n\n"
    "Good day! I would like to order two hundred business cards on matte paper, "
    "double-sided, and pick them up on Friday.\nCan you do that?\n\n"
    "-- \nReply to this email to answer in Telegram.\n"
)
SENT = SentText.of([OURS])
QUOTED = (
    "Good day! I would like to order two hundred business cards on matte\n"
    "paper, double-sided, and pick them up on Friday.\nCan you do that?\n"
)


def email(text: str, html: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "olena@print.example"
    m["Subject"] = "Re: Telegram: Ivan Petrenko"
    m.set_content(text)
    if html is not None:
        m.add_alternative(html, subtype="html")
    return m


@pytest.mark.parametrize(
    "introduction",
    [
        "Ivan Petrenko kirjoitti 23.11.2026 klo 14.05:",  # Finnish: no table has it
        "23.11.2026 14:05 tarihinde Ivan Petrenko <orders+k3x9@shop.example> yazdı:",  # Turkish
        "Lähettäjä: Ivan Petrenko <orders+k3x9@shop.example>\nLähetetty: maanantai 23. "
        "marraskuuta 2026 14.05\nVastaanottaja: sales@shop.example\nAihe: Telegram: Ivan",
        "_______________\n\nOd: Ivan Petrenko <orders+k3x9@shop.example>\nOdesláno: "
        "pondělí 23. listopadu 2026 13:05\nKomu: sales@shop.example\nPředmět: Telegram",
        "-------- Eredeti üzenet --------",  # Hungarian dashed separator
        "On Monday, 23 November 2026 at 14:05, Ivan\nPetrenko <orders+k3x9@shop.example>\nwrote:",
    ],
    ids=["fi", "tr", "fi-header-block", "cs-rule-and-block", "hu-separator", "wrapped-3"],
)
def test_unmarked_history_under_any_introduction_is_cut(introduction):
    text = f"Yes, by Friday noon. 480 UAH.\n\n{introduction}\n\n{QUOTED}"
    got = extract(email(text), [OURS])
    assert got.text == "Yes, by Friday noon. 480 UAH."
    assert got.doubt is None


def test_without_our_text_the_same_reply_keeps_the_history():
    """The words decide: with nothing sent to compare with, no rule of phrasing cuts a
    Finnish attribution, so the check has something to catch."""
    text = f"Yes.\n\nIvan Petrenko kirjoitti 23.11.2026 klo 14.05:\n\n{QUOTED}"
    assert "matte" in extract(email(text)).text


def test_quote_prefixes_of_any_client_count_as_ours():
    """The Bat! quotes with the sender's initials ("IP> "); other clients with "> > "."""
    for prefix in ("IP> ", "> > ", ">>"):
        quoted = "\n".join(prefix + line for line in QUOTED.splitlines())
        text = f"Done.\n\nHello Ivan,\n\nYou wrote 23.11.2026, 14:05:\n\n{quoted}"
        assert extract(email(text), [OURS]).text == "Done.\n\nHello Ivan,"


def test_a_history_that_quotes_only_part_of_our_email_is_cut():
    text = (
        "Sure.\n\nIvan Petrenko wrote:\nI would like to order two hundred business cards on matte"
    )
    assert extract(email(text), [OURS]).text == "Sure."


def test_a_reply_that_quotes_nothing_is_left_whole():
    text = "Good day! Yes, we can.\n\nOlena"
    got = extract(email(text), [OURS])
    assert (got.text, got.doubt) == (text, None)


def test_an_answer_ending_with_a_few_of_the_customers_words_keeps_them():
    text = "Yes, two hundred business cards on matte paper."
    assert cut_trailing(text, SENT) == text
    assert extract(email(text), [OURS]).doubt is None


def test_the_managers_labelled_line_above_the_history_stays():
    text = f"Price: 480 UAH\n\nIvan Petrenko kirjoitti:\n{QUOTED}"
    assert extract(email(text), [OURS]).text == "Price: 480 UAH"


def test_inline_answers_under_pasted_questions_go_out():
    questions = (
        "Is delivery to Lviv possible on Saturday morning before ten o'clock?\n"
        "And can the parcel be left with a neighbour if nobody is home?"
    )
    ours = SentText.of([questions])
    text = (
        "Is delivery to Lviv possible on Saturday morning before ten o'clock?\n"
        "Yes, by Nova Poshta.\n\n"
        "And can the parcel be left with a neighbour if nobody is home?\n"
        "Only with your written consent."
    )
    assert cut_trailing(text, ours) == text
    assert leak(text, ours) is None


def test_history_above_an_unknown_signature_is_a_doubt_not_a_delivery():
    """The history is not at the end (a signature no rule knows follows it): nothing can
    say where the answer stops, so the relay must ask instead of sending."""
    text = f"Yes.\n\nIvan Petrenko kirjoitti:\n{QUOTED}\nOlena Bondar\nPrint House Kyiv"
    got = extract(email(text), [OURS])
    assert got.doubt is not None and len(got.doubt.split()) == LEAK_WORDS
    assert "Yes." in got.text and not got.forced


def test_send_on_the_first_line_sends_the_text_as_it_is():
    text = f"/send\nYes.\n\nIvan Petrenko kirjoitti:\n{QUOTED}\nOlena Bondar\nPrint House Kyiv"
    got = extract(email(text), [OURS])
    assert got.forced and got.doubt is None
    assert got.text.startswith("Yes.") and "/send" not in got.text


def test_a_reply_of_only_our_words_is_a_doubt_and_send_sends_it():
    """Only history, or the manager repeating the customer's words on purpose ("Your
    order:" and the customer's list): nothing goes unasked, and "/send" sends it."""
    text = f"Ivan Petrenko kirjoitti:\n{QUOTED}"
    got = extract(email(text), [OURS])
    assert got.doubt and got.text.strip() == text.strip() and not got.quoted_only
    forced = extract(email(f"/send\nYour order:\n{QUOTED}"), [OURS])
    assert forced.doubt is None and forced.text == f"Your order:\n{QUOTED}".strip()


def test_html_history_in_a_container_without_class_is_cut():
    html = (
        "<div>Yes, by Friday.</div><div><br></div>"
        "<div style='border-left:1px solid #ccc;padding-left:8px'>"
        "<div>Ivan Petrenko, 23.11.2026 14:05:</div>"
        f"<div>{QUOTED.replace(chr(10), ' ')}</div></div>"
    )
    m = EmailMessage()
    m.set_content(html, subtype="html")
    assert extract(m, [OURS]).text == "Yes, by Friday."


def test_nested_history_three_levels_deep_is_cut():
    older = (
        "Ivan Petrenko\nTelegram\n\nAnd the price for five hundred cards with rounded corners?\n"
    )
    text = (
        "Same price.\n\nIvan Petrenko kirjoitti:\n"
        "And the price for five hundred cards with round corners?\n\n"
        "Olena <olena@print.example> kirjoitti:\nYes, 480 UAH.\n\n"
        f"Ivan Petrenko kirjoitti:\n{QUOTED}"
    )
    got = extract(email(text), [older, OURS, "Yes, 480 UAH."])
    assert got.text == "Same price."


def test_our_text_is_read_from_our_emails_bytes():
    m = email("Ivan Petrenko\nTelegram\n\nHello", "<p>Ivan Petrenko</p>")
    assert quoted_history.plain_text(m.as_bytes()).startswith("Ivan Petrenko\nTelegram")
    assert quoted_history.plain_text(b"not an email at all") == "not an email at all"


def test_huge_text_and_history_stay_bounded():
    """A megabyte of our text and of the reply: the word budget keeps it linear."""
    huge = ("word " * 200_000).strip()
    sent = SentText.of([huge, huge])
    text = "Answer.\n\n" + "\n".join(["word " * 12] * 20_000)
    assert cut_trailing(text, sent) == "Answer."


def test_a_wrapped_quoted_line_that_lost_its_marker_is_quoted_history():
    """Libero breaks long quoted lines at 80 columns and the rest has no ">": our words
    say it belongs to the quote; the manager's own line right under a quote stays."""
    body = (
        "Sì, entro il 18.\n\n"
        "> Good day! I would like to order two hundred business cards on matte paper,\n"
        " double-sided, and pick them up on Friday.\n"
    )
    assert strip_text(body, SENT) == "Sì, entro il 18."
    inline = "> Can you do that?\nYes, on Friday.\n"
    assert strip_text(inline, SENT) == "Yes, on Friday."
    chain = (
        "> Good day! I would like to order two hundred\n business cards on matte paper,\n"
        " double-sided, and pick them up on Friday.\nOK."
    )
    assert strip_text(chain, SENT) == "OK."


def test_an_attribution_naming_the_customer_needs_no_date():
    quoted = "".join(f"> {line}\n" for line in QUOTED.splitlines())
    body = f"Yes.\n\nIvan Petrenko via Telegram ha scritto:\n{quoted}"
    assert strip_text(body, SENT) == "Yes."
    assert "ha scritto" in strip_text(body)  # without our text, nothing names him
    mine = "Щодо вашого питання:\n> Can you do that?\nТак.\n"
    assert strip_text(mine, SENT) == "Щодо вашого питання:\n\nТак."


def test_an_attribution_wrapped_in_dashes_goes_with_its_quote():
    body = "Yes.\n\n---- On Mon, 23 Nov 2026 14:05:00 +0200 Ivan wrote ---\n\n> Can you do that?"
    assert strip_text(body) == "Yes."
    heading = "--- Our prices ---\n> Can you do that?\nYes."
    assert strip_text(heading) == "--- Our prices ---\n\nYes."


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("Sim.\n\nEnviado do Email para Windows", "Sim."),
        ("Так.\n\nНадіслано з Пошта для Windows", "Так."),
        ("Драйвер є.\n\nПідходить для Windows 11.", "Драйвер є.\n\nПідходить для Windows 11."),
    ],
)
def test_the_windows_mail_footer_is_cut_but_not_a_line_about_windows(body, kept):
    assert strip_text(body) == kept


def test_a_header_block_with_a_known_from_and_unknown_labels_is_cut_whole():
    body = (
        "Да, 85 лв.\n\n________________________________\n"
        "От: Георги Димитров <orders@shop.example>\n"
        "Изпратено: понеделник, 23 ноември 2026 г. 14:05\n"
        "До: anna@shop.example\nТема: [Viber] Георги Димитров\n\nЗдравейте"
    )
    assert strip_text(body) == "Да, 85 лв."


def test_a_customers_own_send_line_quoted_back_forces_nothing():
    """A customer who writes "/send" and a manager whose client quotes with no marker and
    no attribution, and who writes nothing: the customer's words must not come back to
    them as if a manager had insisted."""
    ours = "Mallory\nTelegram\n\n/send\nThis text will be sent back to me by your shop now.\n"
    reply = "/send\nThis text will be sent back to me by your shop now."
    got = extract(email(reply), [ours])
    assert not got.forced and got.doubt is not None


def test_the_managers_sentence_glued_above_an_attribution_stays():
    """No blank line between the answer and the attribution: the answer's sentence ends
    with its full stop; a wrapped attribution's lines don't."""
    text = f"Ціна 480 грн.\nIvan Petrenko kirjoitti 23.11.2026 klo 14.05:\n{QUOTED}"
    assert extract(email(text), [OURS]).text == "Ціна 480 грн."
    attribution = "On Mon, 23 Nov 2026 at 14:05, Ivan\nPetrenko <orders+k3@shop.example> wrote:"
    wrapped = f"OK\n\n{attribution}\n{QUOTED}"
    assert extract(email(wrapped), [OURS]).text == "OK"


# --- batch blind36: Outlook desktop in depth -------------------------------------------------

QUESTIONS = (
    "Ivan Petrenko\nTelegram\n\nGood day! I need thirty white t-shirts with our logo.\n"
    "Which sizes do you have?\nCan you print on the back too?\n\n"
    "-- \nReply to this email to answer in Telegram.\n"
)
OUTLOOK_BLOCK = (
    "From: Ivan Petrenko via Telegram <orders@shop.example>\n"
    "Sent: Monday, November 23, 2026 12:05 PM\nTo: anna@shop.example\n"
    "Subject: [Telegram] Ivan Petrenko #42\n\n"
)


def test_inline_answers_tagged_with_the_managers_initials_go_out():
    """Answers typed under our lines in an unmarked quote, each tagged "AK:": a lone
    "Label: value" line between lines of ours is an answer, not a header block."""
    quote = QUESTIONS.replace(
        "Which sizes do you have?\n", "Which sizes do you have?\nAK: from S to XXL.\n"
    ).replace("on the back too?\n", "on the back too?\nAK: yes, 3 EUR more a shirt.\n")
    text = f"Hello Ivan, my answers are below.\n\nAnna\n\n{OUTLOOK_BLOCK}{quote}"
    got = extract(email(text), [QUESTIONS])
    assert got.text == (
        "Hello Ivan, my answers are below.\n\nAnna\n\nAK: from S to XXL.\n\n"
        "AK: yes, 3 EUR more a shirt."
    )
    assert got.doubt is None


def test_an_older_header_block_under_ours_is_still_history():
    """Two header lines together are a header block: what follows is older history."""
    older = "From: petro@shop.example\nSent: Sunday, November 22, 2026 6:00 PM\nEarlier words."
    quote = QUESTIONS.replace("\n\n-- \n", f"\n{older}\n\n-- \n")
    text = f"Hello Ivan, S to XXL.\n\n{OUTLOOK_BLOCK}{quote}"
    assert extract(email(text), [QUESTIONS]).text == "Hello Ivan, S to XXL."
